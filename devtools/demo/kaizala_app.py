"""A person using the Kaizala app: chat and photos in a group, through Kaizala's documented API.

The simulator has no app. A person's app session is a connector of its own (`POST
/_sim/connectors`, "the Kaizala app") with a refresh token issued for that person (`POST
/_sim/refresh-tokens`), so what they post goes through SendMessage, UploadMedia and an Image
action, and reaches every subscriber as Kaizala's own event (TextMessageCreated,
AttachmentCreated). The bridge's connector and its tokens are never touched: issuing a token
revokes only older tokens of the same person and connector.

Used by `make demo` and tests/integration/test_loop.py (synchronous: a test calls it from a
worker thread). Bodies follow the swagger's property names exactly.
"""

from __future__ import annotations

from typing import Any

import httpx

APP_CONNECTOR_NAME = "Kaizala app (simulated)"
HTTP_TIMEOUT = 30.0


class KaizalaAppError(Exception):
    """Kaizala refused what the person did (the status and Kaizala's answer, shortened)."""


def _checked(resp: httpx.Response, what: str) -> Any:
    if resp.status_code >= 300:
        raise KaizalaAppError(f"{what} answered {resp.status_code}: {resp.text[:300]}")
    return resp.json() if resp.content else None


class KaizalaApp:
    """Signs people in to the simulator as the Kaizala app would (one connector for all)."""

    def __init__(self, simulator_url: str) -> None:
        self._root = simulator_url.rstrip("/")
        self._http = httpx.Client(timeout=HTTP_TIMEOUT, trust_env=False)  # loopback only
        self._connector: tuple[str, str] | None = None

    def close(self) -> None:
        self._http.close()

    def sign_in(self, mobile: str) -> AppSession:
        if self._connector is None:
            made = _checked(
                self._http.post(f"{self._root}/_sim/connectors", json={"name": APP_CONNECTOR_NAME}),
                "creating the app's connector",
            )
            self._connector = (made["applicationId"], made["applicationSecret"])
        app_id, app_secret = self._connector
        issued = _checked(
            self._http.post(
                f"{self._root}/_sim/refresh-tokens",
                json={"mobileNumber": mobile, "applicationId": app_id},
            ),
            "issuing the person's refresh token",
        )
        token = _checked(
            self._http.get(
                f"{self._root}/v1/accessToken",
                headers={
                    "applicationId": app_id,
                    "applicationSecret": app_secret,
                    "refreshToken": issued["refreshToken"],
                },
            ),
            "GET accessToken",
        )
        return AppSession(self._http, token["endpointUrl"], token["accessToken"])


class AppSession:
    """One signed-in person: what they do in a group."""

    def __init__(self, http: httpx.Client, endpoint_url: str, access_token: str) -> None:
        self._http = http
        self._base = endpoint_url.rstrip("/") + "/v1"
        self._headers = {"accessToken": access_token}

    def send_message(self, group_id: str, text: str) -> str:
        """SendMessage: a chat message in the group; Kaizala's referenceId."""
        sent = _checked(
            self._http.post(
                f"{self._base}/groups/{group_id}/messages",
                json={"message": text},
                headers=self._headers,
            ),
            "SendMessage",
        )
        return str(sent.get("referenceId", ""))

    def post_photo(
        self, group_id: str, file_name: str, content: bytes, content_type: str, caption: str
    ) -> str:
        """UploadMedia, then an Image action with it in the group; the action's id."""
        uploaded = _checked(
            self._http.post(
                f"{self._base}/media",
                files={"FileName": (file_name, content, content_type)},
                headers=self._headers,
            ),
            "UploadMedia",
        )
        sent = _checked(
            self._http.post(
                f"{self._base}/groups/{group_id}/actions",
                json={
                    "actionType": "Image",
                    "actionBody": {"mediaResource": uploaded["mediaResource"], "caption": caption},
                },
                headers=self._headers,
            ),
            "sending the Image action",
        )
        return str(sent.get("actionId", ""))

    def webhooks(self, group_id: str) -> list[dict[str, Any]]:
        """GetAllWebhooks of the group (what the portal shows)."""
        found = _checked(
            self._http.get(
                f"{self._base}/webhook",
                params={"objectId": group_id, "objectType": "Group"},
                headers=self._headers,
            ),
            "GET webhook",
        )
        hooks: list[dict[str, Any]] = found["webhooks"]
        return hooks

    def delete_webhook(self, webhook_id: str) -> None:
        """UnsubscribingAWebhook: the subscription is gone; Kaizala delivers nothing to it."""
        _checked(
            self._http.delete(f"{self._base}/webhook/{webhook_id}", headers=self._headers),
            "DELETE webhook",
        )
