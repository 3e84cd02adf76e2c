"""root-key-detector: root created an access key -> Security Hub finding + Slack alert."""

__version__ = "0.1.0"
