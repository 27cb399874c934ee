"""Notifications that reach a person: the outbox, channels, the delivery worker (and the
daily digest it sends, ``digests``), the on-call rota and the escalation chain. See
docs/notifications.md.

Services record notifications with ``telemed.notify.outbox`` in the transaction of their
cause; only ``telemed.notify.worker`` talks to the outside (SMTP, Apprise).
"""
