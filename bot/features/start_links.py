"""What a ``/start`` payload starts with: a claim code's link, an invitation's. The menu's
``/start`` reads them; the claims and the invitations (and the admins' claim sheets) write them.
"""

CLAIM_PREFIX = "c-"
INVITE_PREFIX = "i-"
