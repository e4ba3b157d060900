"""What admins read back.

Figures and reports, roll-ups of closed days and hours, CSV exports, and the audit log
every admin action writes inside its use case.
"""
