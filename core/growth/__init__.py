"""What brings members in and back.

Daily check-ins and streaks, referrals, tasks and challenges (and their file),
birthdays, member days, claim codes.
"""
