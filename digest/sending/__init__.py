"""Sending: the due digests out of the outbox, through the transports.

Three layers, three verbs. A transport *delivers* one message (digest.transports). The
dispatcher *dispatches* a batch of messages over several transports at once, retrying
and keeping to the rate limit (`dispatch`, `rate`). A round *sends* the due digests:
claims, loads, composes, dispatches and records them (`send`, `load`); a large run sends
from several processes at once (`processes`). `report` says what a round did.
"""
