"""A member as a person.

Joining and their profile, freezing and the risk rules that flag them, their own data
(export and erasure), the question the bot waits for them to answer.
"""
