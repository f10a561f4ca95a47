"""The operations of the built-in S3 API: one function per S3 call, picked by :func:`dispatch`
from the method, the path (bucket, key) and the query's sub-resource."""

from __future__ import annotations

import base64
import calendar
import json
from email.utils import parsedate_tz
from typing import TYPE_CHECKING, Any

from modelreg import json_text
from modelreg.artifacts import s3_writes as writes
from modelreg.artifacts import s3_xml as xml
from modelreg.artifacts.blobs import S3Error
from modelreg.artifacts.buckets import ObjectInfo, check_bucket_name, check_key
from modelreg.artifacts.multipart import invalid_part
from modelreg.artifacts.s3_http import (
    ObjectStream,
    Reply,
    S3Request,
    check_small_body,
    etag_matches,
    invalid,
    not_implemented,
    read_small_body,
)

if TYPE_CHECKING:
    from modelreg.artifacts.s3_api import S3Api

#: sub-resources of S3 this store does not implement (answered 501 NotImplemented)
UNSUPPORTED = frozenset(
    {
        *("accelerate", "acl", "analytics", "attributes", "cors", "encryption", "intelligent-tiering"),
        *("inventory", "legal-hold", "lifecycle", "logging", "metrics", "notification", "object-lock"),
        *("ownershipControls", "policy", "policyStatus", "publicAccessBlock", "replication"),
        *("requestPayment", "restore", "retention", "select", "tagging", "torrent", "versions", "website"),
    }
)


async def dispatch(api: S3Api, req: S3Request) -> Any:
    """Answer ``req``: an ASGI-callable reply."""
    q, m = req.query, req.method
    # Every request is authenticated here, before any body byte is read; a signed payload hash
    # is then checked against the body as it is read.
    req.verify_payload = api.authenticate(req)
    unsupported = sorted(UNSUPPORTED.intersection(q))
    if unsupported:
        raise not_implemented(f"The ?{unsupported[0]} sub-resource")
    if q.get("versionId") not in (None, "null"):
        raise invalid("Invalid version id specified")
    if not req.bucket:
        if m == "GET":
            return Reply(200, xml.list_buckets(await api.run(api.store.list_buckets)), xml=True)
        raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)
    check_bucket_name(req.bucket)
    if not req.has_key:
        if m == "PUT":
            return await create_bucket(api, req)
        if m == "POST" and "delete" in q:
            return await delete_objects(api, req)
        if m == "HEAD":
            await api.run(api.store.require_bucket, req.bucket)
            return Reply(200, headers={"x-amz-bucket-region": api.settings.default_region})
        if m == "DELETE":
            await api.run(api.store.delete_bucket, req.bucket)
            return Reply(204)
        if m == "GET":
            if "location" in q:
                await api.run(api.store.require_bucket, req.bucket)
                region = "" if api.settings.default_region == "us-east-1" else api.settings.default_region
                return Reply(200, xml.document("LocationConstraint", region), xml=True)
            if "versioning" in q:
                await api.run(api.store.require_bucket, req.bucket)
                return Reply(200, xml.document("VersioningConfiguration", ""), xml=True)
            if "uploads" in q:
                return await writes.list_uploads(api, req)
            return await list_objects(api, req)
        raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)
    check_key(req.key)
    if m == "PUT":
        if "partNumber" in q or "uploadId" in q:
            if "x-amz-copy-source" in req.headers:
                raise not_implemented("UploadPartCopy")
            return await writes.upload_part(api, req)
        if "x-amz-copy-source" in req.headers:
            return await writes.copy_object(api, req)
        return await writes.put_object(api, req)
    if m == "POST":
        if "uploads" in q:
            return await writes.create_upload(api, req)
        if "uploadId" in q:
            return await writes.complete_upload(api, req)
        raise not_implemented("POST on an object without ?uploads or ?uploadId")
    if m in ("GET", "HEAD"):
        if "uploadId" in q and m == "GET":
            return await writes.list_parts(api, req)
        return await get_object(api, req)
    if m == "DELETE":
        if "uploadId" in q:
            await api.run(api.uploads.abort, req.bucket, req.key, q["uploadId"])
        else:
            await api.run(api.store.delete, req.bucket, req.key)
        return Reply(204)
    raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)


# -- buckets ----------------------------------------------------------------------------------


async def create_bucket(api: S3Api, req: S3Request) -> Reply:
    body = await read_small_body(req, xml.MAX_XML_BODY)
    if body.strip():
        xml.parse(body, "CreateBucketConfiguration")
    await api.run(api.store.create_bucket, req.bucket)
    return Reply(200, headers={"Location": f"/{req.bucket}"})


def _max_keys(req: S3Request) -> int:
    raw = req.query.get("max-keys", "1000")
    try:
        value = int(raw)
    except ValueError:
        raise invalid(
            "Provided max-keys not an integer or within integer range", ArgumentName="max-keys"
        ) from None
    if value < 0:
        raise invalid("Argument maxKeys must be an integer between 0 and 2147483647", ArgumentName="max-keys")
    return min(value, 1000)


def _encode_token(cursor: tuple[str, bool]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(cursor)).encode()).decode()


def _decode_token(token: str) -> tuple[str, bool]:
    try:
        key, inclusive = json_text.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        if isinstance(key, str) and isinstance(inclusive, bool):
            return key, inclusive
    except (ValueError, TypeError, UnicodeError):
        pass
    raise invalid("The continuation token provided is incorrect", ArgumentName="continuation-token")


async def list_objects(api: S3Api, req: S3Request) -> Reply:
    q = req.query
    v2 = q.get("list-type") == "2"
    encoding = q.get("encoding-type")
    if encoding not in (None, "url"):
        raise invalid("Invalid Encoding Method specified in Request", ArgumentName="encoding-type")
    prefix, delimiter, max_keys = q.get("prefix", ""), q.get("delimiter", ""), _max_keys(req)
    token = q.get("continuation-token") if v2 else None
    start_after = q.get("start-after", "") if v2 else ""
    marker = "" if v2 else q.get("marker", "")
    cursor: tuple[str, bool] | None = None
    if token is not None:
        cursor = _decode_token(token)
    elif start_after or marker:
        cursor = (start_after or marker, False)
    listing = await api.run(api.store.list_objects, req.bucket, prefix, delimiter, max_keys, cursor)
    next_token = _encode_token(listing.next_cursor) if listing.truncated and listing.next_cursor else None
    body = xml.list_objects(
        req.bucket,
        listing,
        v2=v2,
        prefix=prefix,
        delimiter=delimiter,
        max_keys=max_keys,
        url=encoding == "url",
        start_after=start_after,
        token=token,
        next_token=next_token,
        marker=marker,
    )
    return Reply(200, body, xml=True)


async def delete_objects(api: S3Api, req: S3Request) -> Reply:
    body = await read_small_body(req, xml.MAX_XML_BODY)
    check_small_body(req, body)
    root = xml.parse(body, "Delete")
    quiet = (xml.text(root, "Quiet") or "").strip().lower() == "true"
    objects = root.findall("Object")
    if not objects or len(objects) > 1000:
        raise xml.malformed()
    await api.run(api.store.require_bucket, req.bucket)
    out: list[str] = []
    for node in objects:
        key = xml.text(node, "Key")
        if key is None:
            raise xml.malformed()
        try:
            check_key(key)
            await api.run(api.store.delete, req.bucket, key)
        except S3Error as error:
            detail = xml.el("Key", key) + xml.el("Code", error.code) + xml.el("Message", error.message)
            out.append(f"<Error>{detail}</Error>")
            continue
        if not quiet:
            out.append(f"<Deleted>{xml.el('Key', key)}</Deleted>")
    return Reply(200, xml.document("DeleteResult", "".join(out)), xml=True)


# -- reading objects --------------------------------------------------------------------------


def _http_time(value: str) -> float | None:
    """Epoch seconds of an HTTP date; None for one that is not a date (S3 then ignores the
    condition), a year past 9999 included."""
    parsed = parsedate_tz(value)
    if parsed is None:
        return None
    try:
        return calendar.timegm(parsed[:9]) - (parsed[9] or 0)
    except (ValueError, OverflowError):
        return None


def _preconditions(req: S3Request, info: ObjectInfo) -> None:
    h = req.headers
    modified = int(info.modified)
    if_match, if_none = h.get("if-match"), h.get("if-none-match")
    if if_match is not None and not etag_matches(if_match, info.etag):
        raise S3Error(
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
            412,
            Condition="If-Match",
        )
    if if_match is None and (v := h.get("if-unmodified-since")) is not None:
        since = _http_time(v)
        if since is not None and modified > since:
            raise S3Error(
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
                412,
                Condition="If-Unmodified-Since",
            )
    not_modified = False
    if if_none is not None:
        not_modified = etag_matches(if_none, info.etag)
    elif (v := h.get("if-modified-since")) is not None:
        since = _http_time(v)
        not_modified = since is not None and modified <= since
    if not_modified:
        raise NotModified(info)


class NotModified(S3Error):
    def __init__(self, info: ObjectInfo) -> None:
        super().__init__("NotModified", "Not Modified", 304)
        self.info = info


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, length) of a single ``bytes=`` range; None to send everything; ``InvalidRange``
    when it cannot be satisfied."""
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first.strip() == "":
            suffix = int(last)
            if suffix <= 0 or size == 0:
                raise _unsatisfiable(header, size)
            return max(size - suffix, 0), min(suffix, size)
        start = int(first)
        end = int(last) if last.strip() else size - 1
    except ValueError:
        return None
    if start >= size:
        raise _unsatisfiable(header, size)
    if end < start:
        return None
    end = min(end, size - 1)
    return start, end - start + 1


def _unsatisfiable(header: str, size: int) -> S3Error:
    return S3Error(
        "InvalidRange",
        "The requested range is not satisfiable",
        416,
        RangeRequested=header,
        ActualObjectSize=str(size),
    )


_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}


def object_headers(info: ObjectInfo, with_checksum: bool) -> dict[str, str]:
    headers = {
        "ETag": info.etag,
        "Last-Modified": xml.http_date(info.modified),
        "Content-Type": info.content_type,
        "Accept-Ranges": "bytes",
    }
    for name, value in (info.meta.get("headers") or {}).items():
        headers[name] = value
    for name, value in (info.meta.get("user") or {}).items():
        headers[f"x-amz-meta-{name}"] = value
    checksum = info.checksum
    if with_checksum and checksum:
        headers[f"x-amz-checksum-{checksum['algorithm'].lower()}"] = checksum["value"]
        headers["x-amz-checksum-type"] = checksum.get("type", "FULL_OBJECT")
    return headers


def _part_range(info: ObjectInfo, number: int) -> tuple[int, int] | None:
    """(start, length) of part ``number`` of the object (positions 1, 2, ... of the parts it was
    completed from; a single-part object is its part 1); None for all of an empty object."""
    parts = info.meta.get("parts")
    sizes = [size for _, size in parts] if parts else [info.size]
    if number > len(sizes):
        raise invalid_part(number)
    start, length = sum(sizes[: number - 1]), sizes[number - 1]
    return (start, length) if length else None


async def get_object(api: S3Api, req: S3Request) -> Any:
    """GetObject and HeadObject: all of the object, one ``bytes=`` range of it, or one of the
    parts it was uploaded in (``partNumber``)."""
    part = writes.part_number(req) if "partNumber" in req.query else None
    if part is not None and req.headers.get("range"):
        raise S3Error("InvalidRequest", "Cannot specify both Range header and partNumber query parameter")
    selected: dict[str, Any] = {}

    def select(info: ObjectInfo) -> tuple[int, int]:
        _preconditions(req, info)
        rng = _range(req.headers.get("range"), info.size) if part is None else _part_range(info, part)
        selected["range"] = rng
        return rng if rng is not None else (0, info.size)

    try:
        info, reader = await api.run(api.store.open, req.bucket, req.key, select)
    except NotModified as nm:
        return Reply(304, headers={"ETag": nm.info.etag, "Last-Modified": xml.http_date(nm.info.modified)})
    rng = selected["range"]
    checksum_mode = (req.headers.get("x-amz-checksum-mode") or "").upper() == "ENABLED"
    headers = object_headers(info, checksum_mode and rng is None)
    for param, header in _OVERRIDES.items():
        if param in req.query:
            headers[header] = req.query[param]
    if part is not None and info.meta.get("parts"):
        headers["x-amz-mp-parts-count"] = str(len(info.meta["parts"]))
    if rng is None:
        headers["Content-Length"] = str(info.size)
        return ObjectStream(200, headers, reader, api.executor)
    start, length = rng
    headers["Content-Length"] = str(length)
    headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{info.size}"
    return ObjectStream(206, headers, reader, api.executor)
