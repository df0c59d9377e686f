"""The outbox: every digest is recorded before it is sent, claimed while it is sent, and
ends `sent`, `deferred` (try again later) or `failed` (the relay said no for good).

A delivery moves pending -> sending -> sent | deferred | failed, one commit per step, so a
crash leaves at most the one message a process was sending in `sending`. That row is
ambiguous: the relay may or may not have taken it before the crash. It is sent again once
its claim is known to be dead (its process is gone, or the claim is older than
DIGEST_CLAIM_TIMEOUT), with the same Message-ID, which mail clients use to fold the rare
duplicate: a duplicate is better than a digest lost for good.

- `record`: the day's digests recorded as pending deliveries, before any mail is sent;
- `claims`: which deliveries are due, claimed by one sender at a time, given back, and
  taken over from a sender that died;
- `results`: what became of a claimed delivery: sent, deferred or failed (and suspension);
- `history`: the outbox read back: a stored digest, the status, retrying.

The sending itself (composing, dispatching, recording as it goes) is digest.sending's.
"""
