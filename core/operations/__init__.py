"""Running the mall.

What each scheduled job does, who runs a job's run (one process, once), the leader,
the inbox of updates, the outbox of bulk messages, pruning idempotency records.
"""
