"""The shared ground of the Kaizala models (field names exactly as on the wire).

Requests are exact (`extra="forbid"`): a typo fails here, not as a 400 from Kaizala.
Responses tolerate unknown fields, since Kaizala added fields over time and the published
samples are incomplete. Token and secret fields are `repr=False`, and the models that carry
them ignore unknown fields, so a new secret-bearing field can never reach a repr or a log.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

MobileNumber = Annotated[str, Field(min_length=3, max_length=20, pattern=r"^\+?[0-9]{3,19}$")]


class RequestModel(BaseModel):
    # hide_input_in_errors: a ValidationError's text must not echo a callBackToken or pin.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, populate_by_name=True)


class ResponseModel(BaseModel):
    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)


class SecretResponseModel(BaseModel):
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)


class OperationResult(ResponseModel):
    """The body of a call whose answer Kaizala never documented (often `{}`)."""
