"""An HTTP webhook as a destination: each delivery is a signed JSON POST.

The signature is HMAC-SHA256 over ``timestamp + "." + body`` with the shared secret, sent as
``Carebridge-Signature: v1=<hex>`` beside ``Carebridge-Timestamp: <unix seconds>``; the
receiver's verification recipe is in ``docs/webhooks.md``. Each attempt is signed afresh.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import requests

from connectors.outbound.events import event_of
from connectors.outbound.http_answers import is_passing, problem_text, retry_after_seconds
from connectors.outbound.redirects import redirect_refusal
from engine.delivery.destination import Delivered, DeliveryItem, Outcome, Rejected, RetryLater, Throttle, Throttled
from foundation import decimal_json

#: Headers of a webhook request.
TIMESTAMP_HEADER = "Carebridge-Timestamp"
SIGNATURE_HEADER = "Carebridge-Signature"
DELIVERY_HEADER = "Carebridge-Delivery"
#: The signature scheme's version prefix, so the scheme can change without breaking receivers.
SIGNATURE_VERSION = "v1"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``v1=<hex HMAC-SHA256 of timestamp.body>``, as sent in ``Carebridge-Signature``."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


class WebhookDestination:
    """POSTs each resource version as a signed event.

    Example::

        hook = WebhookDestination("audit-hook", "https://example.org/hooks/carebridge", secret="...")
    """

    def __init__(self, name: str, url: str, secret: str, timeout_seconds: float = 30.0,
                 headers: dict[str, str] | None = None, throttle: Throttle | None = None):
        self.name = name
        self.url = url
        self.secret = secret
        self.timeout = timeout_seconds
        self.headers = dict(headers or {})
        self.throttle = throttle

    def deliver(self, item: DeliveryItem) -> Outcome:
        if self.throttle is not None and (wait := self.throttle.wait()) is not None:
            return Throttled(f"the engine's rate limit for {self.name} is used up", wait)
        body = decimal_json.dumps(event_of(item), compact=True).encode("utf-8")
        timestamp = str(int(time.time()))
        headers = {**self.headers, "Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
                   SIGNATURE_HEADER: sign(self.secret, timestamp, body), DELIVERY_HEADER: str(item.delivery_id),
                   "Idempotency-Key": item.idempotency_key, "User-Agent": "Carebridge"}
        try:
            response = requests.post(self.url, data=body, headers=headers, timeout=self.timeout,
                                     allow_redirects=False)
        except requests.Timeout:
            return RetryLater("the webhook did not answer in time")
        except requests.RequestException as exc:
            return RetryLater(f"cannot reach the webhook ({type(exc).__name__})")
        if 200 <= response.status_code < 300:
            return Delivered(None, f"webhook answered HTTP {response.status_code}")
        refused = redirect_refusal(response)
        if refused is not None:
            return Rejected(f"webhook: {refused}")
        if is_passing(response.status_code):
            return RetryLater(f"webhook: {problem_text(response)}", retry_after_seconds(response))
        return Rejected(f"webhook: {problem_text(response)}")

    def ping(self) -> bool:
        return True  # a webhook has no agreed health check; a failing POST is retried
