"""airwarn: models."""

# Before any module of the package imports lightgbm (libgomp reads OMP_WAIT_POLICY once, when it
# loads): the thread policy of models/threads.py.
from airwarn.models.threads import set_wait_policy as _set_wait_policy

_set_wait_policy()
