"""Points and their books: the ledger, and the rules by which points move.

Double-entry transfers between accounts, lots consumed earliest expiry first, holds;
earning (the daily cap, tiers, the pure rules); at most once per cause and what it
counts; what a member reads of their points; expiry; admins' corrections; the keys the
mall makes for itself; the ledger's invariants and their checkpoint.
"""
