"""Errors a client sees, named exactly as the AWS error codes.

A handler raises one of these; the protocol layer turns it into the wire format of the
service (JSON 1.1: ``{"__type": code, "message": ...}`` plus the ``X-Amzn-ErrorType``
header). Anything that is not a ``ServiceError`` is a bug and is answered 500.
"""

from __future__ import annotations


class ServiceError(Exception):
    """An error the client caused or must know about; ``code`` is the AWS error code."""

    code: str = "ServiceError"
    status: int = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class ValidationException(ServiceError):
    code = "ValidationException"


class SerializationException(ServiceError):
    """The body is not JSON, or a member has the wrong JSON type."""

    code = "SerializationException"


class RequestEntityTooLarge(ServiceError):
    """The request body is larger than modelreg reads (``modelreg.aws.protocol.MAX_REQUEST_BYTES``)."""

    code = "RequestEntityTooLargeException"
    status = 413


class UnknownOperationException(ServiceError):
    code = "UnknownOperationException"


class ResourceNotFound(ServiceError):
    code = "ResourceNotFound"


class ResourceInUse(ServiceError):
    code = "ResourceInUse"


class ResourceLimitExceeded(ServiceError):
    code = "ResourceLimitExceeded"


class ConflictException(ServiceError):
    code = "ConflictException"


class ResourceAlreadyExists(ServiceError):
    code = "ResourceAlreadyExists"


class IdempotentParameterMismatch(ValidationException):
    """The same ClientToken came back with different parameters (SageMaker answers 400)."""


class AuthError(ServiceError):
    """Authentication failures; AWS answers these with 403."""

    status = 403


class UnrecognizedClientException(AuthError):
    code = "UnrecognizedClientException"


class InvalidSignatureException(AuthError):
    code = "InvalidSignatureException"


class MissingAuthenticationTokenException(AuthError):
    code = "MissingAuthenticationTokenException"


class IncompleteSignatureException(AuthError):
    code = "IncompleteSignatureException"


# EventBridge (service "events") error codes; AWS answers all of them with HTTP 400.


class ResourceNotFoundException(ServiceError):
    code = "ResourceNotFoundException"


class ResourceAlreadyExistsException(ServiceError):
    code = "ResourceAlreadyExistsException"


class InvalidEventPatternException(ServiceError):
    code = "InvalidEventPatternException"


class ConcurrentModificationException(ServiceError):
    code = "ConcurrentModificationException"


class LimitExceededException(ServiceError):
    code = "LimitExceededException"


class IllegalStatusException(ServiceError):
    code = "IllegalStatusException"
