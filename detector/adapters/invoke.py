"""Hands a job to an asynchronous invocation of this same function (Lambda ``Invoke``, Event)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from detector import retry
from detector.adapters.aws_errors import aws_call

SERVICE = "lambda.Invoke"


class AsyncInvoker:
    """``Invoke`` with InvocationType Event: Lambda queues the payload and answers 202 at once;
    a failed invocation is retried by Lambda, then goes to the function's on-failure
    destination."""

    def __init__(self, client: Callable[[], Any], function: str, retry_env: retry.RetryEnv) -> None:
        self._client = client
        self._function = function
        self._retry_env = retry_env

    def submit(self, payload: dict[str, Any]) -> None:
        """Queue ``payload`` for the function; raises AwsCallError after retries."""
        body = json.dumps(payload).encode()
        retry.build(retry.AWS_CALL, self._retry_env)(
            aws_call,
            SERVICE,
            self._client().invoke,
            FunctionName=self._function,
            InvocationType="Event",
            Payload=body,
        )
