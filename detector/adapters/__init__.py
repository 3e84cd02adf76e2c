"""Adapters: the only code that touches the network (AWS through botocore, Slack through urllib),
and the only code that sees the SDKs' exceptions: they raise the detector's own errors."""
