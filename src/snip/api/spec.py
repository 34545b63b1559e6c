"""The OpenAPI document tells the truth about errors: every one is problem+json.

flask-smorest documents errors with its own ``Error`` schema as application/json;
snip answers RFC 9457 problem details as application/problem+json (snip.errors).
``SnipApi`` registers the shared error responses with ``ProblemSchema`` and that
media type, and ``errors(...)`` lists on an operation the statuses it can answer.
"""

from __future__ import annotations

import http
from collections.abc import Callable

from flask_smorest import Api, Blueprint
from flask_smorest.utils import prepare_response
from marshmallow import Schema, fields

PROBLEM_CONTENT_TYPE = "application/problem+json"


class FieldError(Schema):
    field = fields.String(
        required=True, metadata={"description": "the field, e.g. 'url' or 'tags.0'; 'body' for all"}
    )
    message = fields.String(required=True, metadata={"description": "what is wrong with it"})


class ProblemSchema(Schema):
    type = fields.String(
        required=True,
        metadata={"description": "URL of the page explaining this kind of error (docs/errors)"},
    )
    title = fields.String(required=True, metadata={"description": "the HTTP status phrase"})
    status = fields.Integer(required=True)
    detail = fields.String(required=True, metadata={"description": "what went wrong, in words"})
    instance = fields.String(required=True, metadata={"description": "the request path"})
    request_id = fields.String(
        required=True, metadata={"description": "also in the X-Request-ID header and the logs"}
    )
    errors = fields.List(
        fields.Nested(FieldError), metadata={"description": "each invalid field (422 only)"}
    )


class SnipApi(Api):
    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self):
        """The shared responses (one per status, and the default) as problem+json."""
        for status in http.HTTPStatus:
            response: dict = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Any other error", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)


def errors(blp: Blueprint, *statuses: int) -> Callable:
    """Document that an operation may answer these error statuses (problem+json)."""

    def decorate(view: Callable) -> Callable:
        for status in statuses:
            view = blp.alt_response(status, response=http.HTTPStatus(status).name)(view)
        return view

    return decorate
