"""Adapters: the only code that touches the network (AWS through boto3, Slack through slack_sdk)."""
