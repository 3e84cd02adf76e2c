"""The dead-letter queue in SQS: receive and delete, each call under the AWS_CALL policy."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from detector import retry
from detector.adapters.aws_errors import aws_call
from detector.ports import QueuedMessage

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# Hidden from other readers while one redrive handles it (seconds); a message that fails comes
# back after this.
VISIBILITY_TIMEOUT_S = 300
WAIT_S = 1  # long polling: an empty answer after this many seconds


class SqsDeadLetterQueue:
    """ReceiveMessage / DeleteMessage on one queue (``queue_url``)."""

    def __init__(
        self, client: Callable[[], SQSClient], queue_url: str, retry_env: retry.RetryEnv
    ) -> None:
        self._client = client
        self._queue_url = queue_url
        self._retry_env = retry_env

    def receive(self, max_messages: int) -> list[QueuedMessage]:
        """Up to ``max_messages`` (SQS allows 1 to 10 per call) waiting messages.

        Raises:
            AwsCallError: the queue cannot be read after AWS_CALL's retries.
        """
        resp = retry.build(retry.AWS_CALL, self._retry_env)(
            aws_call,
            "sqs.ReceiveMessage",
            self._client().receive_message,
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=WAIT_S,
            VisibilityTimeout=VISIBILITY_TIMEOUT_S,
        )
        return [
            QueuedMessage(m["MessageId"], m.get("Body") or "", m["ReceiptHandle"])
            for m in resp.get("Messages", [])
        ]

    def delete(self, message: QueuedMessage) -> None:
        """Delete a handled message by its receipt handle.

        Raises:
            AwsCallError: the message could not be deleted after AWS_CALL's retries.
        """
        retry.build(retry.AWS_CALL, self._retry_env)(
            aws_call,
            "sqs.DeleteMessage",
            self._client().delete_message,
            QueueUrl=self._queue_url,
            ReceiptHandle=message.receipt,
        )
