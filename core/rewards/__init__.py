"""What points are spent on: the catalog, the shelves and redemptions.

The catalog and its file, what members see on the shelves, the one eligibility check,
stock and coupon codes, redemptions and what a press comes to, flash sales, Stars
refunds of payments the mall keeps nothing for, donations.
"""
