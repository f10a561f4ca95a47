"""The operations of the built-in S3 API: one function per S3 call, picked by :func:`dispatch`
from the method, the path (bucket, key) and the query's sub-resource."""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import hmac
import json
from email.utils import parsedate_tz
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from modelreg.artifacts import checksums
from modelreg.artifacts import s3_xml as xml
from modelreg.artifacts.blobs import AwsChunkedDecoder, Blob, BlobWriter, S3Error
from modelreg.artifacts.buckets import ObjectInfo, check_bucket_name, check_key
from modelreg.artifacts.multipart import MAX_PART_NUMBER, RequestedPart, part_algorithm
from modelreg.artifacts.s3_http import ObjectStream, Reply, S3Request, read_small_body, receive_into

if TYPE_CHECKING:
    from modelreg.artifacts.s3_api import S3Api

UNSUPPORTED = frozenset(
    "accelerate acl analytics attributes cors encryption intelligent-tiering inventory legal-hold "
    "lifecycle logging metrics notification object-lock ownershipControls policy policyStatus "
    "publicAccessBlock replication requestPayment restore retention select tagging torrent "
    "versions website".split()
)
STORED_HEADERS = ("cache-control", "content-disposition", "content-encoding", "content-language", "expires")
MAX_USER_METADATA = 2048
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _not_implemented(what: str) -> S3Error:
    return S3Error(
        "NotImplemented",
        f"{what} is not implemented by modelreg's built-in S3 store; see docs/artifacts.md.",
        501,
    )


def _invalid(message: str, **fields: str) -> S3Error:
    return S3Error("InvalidArgument", message, 400, **fields)


async def dispatch(api: S3Api, req: S3Request) -> Any:
    """Answer ``req``: an ASGI-callable reply."""
    q, m = req.query, req.method
    unsupported = sorted(UNSUPPORTED.intersection(q))
    if unsupported:
        raise _not_implemented(f"The ?{unsupported[0]} sub-resource")
    if q.get("versionId") not in (None, "null"):
        raise _invalid("Invalid version id specified")
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
        api.authenticate(req, b"")
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
                raise _not_implemented("ListMultipartUploads")
            return await list_objects(api, req)
        raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)
    check_key(req.key)
    if m == "PUT":
        if "partNumber" in q or "uploadId" in q:
            if "x-amz-copy-source" in req.headers:
                raise _not_implemented("UploadPartCopy")
            return await upload_part(api, req)
        if "x-amz-copy-source" in req.headers:
            return await copy_object(api, req)
        return await put_object(api, req)
    if m == "POST":
        if "uploads" in q:
            return await create_upload(api, req)
        if "uploadId" in q:
            return await complete_upload(api, req)
        raise _not_implemented("POST on an object without ?uploads or ?uploadId")
    api.authenticate(req, b"")
    if m in ("GET", "HEAD"):
        if "uploadId" in q and m == "GET":
            return await list_parts(api, req)
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
    body = await read_small_body(req.receive, xml.MAX_XML_BODY)
    api.authenticate(req, body)
    if body.strip():
        xml.parse(body, "CreateBucketConfiguration")
    await api.run(api.store.create_bucket, req.bucket)
    return Reply(200, headers={"Location": f"/{req.bucket}"})


def _max_keys(req: S3Request) -> int:
    raw = req.query.get("max-keys", "1000")
    try:
        value = int(raw)
    except ValueError:
        raise _invalid("Provided max-keys not an integer or within integer range", ArgumentName="max-keys") from None
    if value < 0:
        raise _invalid("Argument maxKeys must be an integer between 0 and 2147483647", ArgumentName="max-keys")
    return min(value, 1000)


def _encode_token(cursor: tuple[str, bool]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(cursor)).encode()).decode()


def _decode_token(token: str) -> tuple[str, bool]:
    try:
        key, inclusive = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        if isinstance(key, str) and isinstance(inclusive, bool):
            return key, inclusive
    except (ValueError, TypeError, UnicodeError):
        pass
    raise _invalid("The continuation token provided is incorrect", ArgumentName="continuation-token")


async def list_objects(api: S3Api, req: S3Request) -> Reply:
    q = req.query
    v2 = q.get("list-type") == "2"
    encoding = q.get("encoding-type")
    if encoding not in (None, "url"):
        raise _invalid("Invalid Encoding Method specified in Request", ArgumentName="encoding-type")
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
    from modelreg.artifacts.s3_api import check_small_body

    body = await read_small_body(req.receive, xml.MAX_XML_BODY)
    api.authenticate(req, body)
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
            out.append(f"<Error>{xml.el('Key', key)}{xml.el('Code', error.code)}{xml.el('Message', error.message)}</Error>")
            continue
        if not quiet:
            out.append(f"<Deleted>{xml.el('Key', key)}</Deleted>")
    return Reply(200, xml.document("DeleteResult", "".join(out)), xml=True)


# -- writing objects --------------------------------------------------------------------------


def _object_meta(req: S3Request) -> dict[str, Any]:
    """Content type, ``x-amz-meta-*`` and the standard headers S3 stores with an object."""
    user: dict[str, str] = {}
    headers: dict[str, str] = {}
    for name, value in req.headers.items():
        if name.startswith("x-amz-meta-"):
            user[name[len("x-amz-meta-") :]] = value
        elif name in STORED_HEADERS:
            if name == "content-encoding":
                value = ",".join(v.strip() for v in value.split(",") if v.strip() and v.strip() != "aws-chunked")
                if not value:
                    continue
            headers[name] = value
    if sum(len(k) + len(v) for k, v in user.items()) > MAX_USER_METADATA:
        raise S3Error(
            "MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size.", 400
        )
    meta: dict[str, Any] = {"user": user, "headers": headers}
    content_type = req.headers.get("content-type")
    if content_type:
        meta["content_type"] = content_type
    return meta


def _algorithm(name: str) -> str:
    algorithm = name.strip().upper()
    if algorithm not in checksums.ALGORITHMS:
        raise S3Error(
            "InvalidRequest",
            f"Checksum algorithm {name} is not supported; use one of {', '.join(checksums.ALGORITHMS)}.",
        )
    return algorithm


class _Expectations:
    """The checksums a write request promises, from its headers (and trailer, for aws-chunked)."""

    def __init__(self, req: S3Request) -> None:
        h = req.headers
        self.header_values: dict[str, str] = {}
        for name in h:
            if name.startswith("x-amz-checksum-") and name not in ("x-amz-checksum-algorithm", "x-amz-checksum-type", "x-amz-checksum-mode"):
                algorithm = _algorithm(name[len("x-amz-checksum-") :])
                value = h[name].strip()
                if checksums.decode(algorithm, value) is None:
                    raise S3Error("InvalidRequest", f"Value for {name} header is invalid.")
                self.header_values[algorithm] = value
        self.trailer: str | None = None
        trailer = h.get("x-amz-trailer")
        if trailer:
            name = trailer.strip().lower()
            if not name.startswith("x-amz-checksum-"):
                raise S3Error("InvalidRequest", f"The trailer {trailer} is not supported.")
            self.trailer = _algorithm(name[len("x-amz-checksum-") :])
        declared = h.get("x-amz-sdk-checksum-algorithm") or h.get("x-amz-checksum-algorithm")
        self.declared = _algorithm(declared) if declared else None
        named = {*self.header_values, *([self.trailer] if self.trailer else [])}
        if len(named) > 1:
            raise S3Error(
                "InvalidRequest",
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
            )
        self.algorithm = next(iter(named), None) or self.declared
        md5 = h.get("content-md5")
        self.md5: str | None = None
        if md5 is not None:
            try:
                self.md5 = base64.b64decode(md5, validate=True).hex()
            except (binascii.Error, ValueError):
                raise S3Error("InvalidDigest", "The Content-MD5 you specified was invalid.") from None
            if len(self.md5) != 32:
                raise S3Error("InvalidDigest", "The Content-MD5 you specified was invalid.")
        sha = (h.get("x-amz-content-sha256") or "").strip().lower()
        self.payload_sha256 = sha if len(sha) == 64 and sha != _EMPTY_SHA256 else None
        if sha == _EMPTY_SHA256:
            self.payload_sha256 = sha
        self.chunked = "aws-chunked" in (h.get("content-encoding") or "").lower() or sha.startswith("streaming-")

    def check(self, blob: Blob, trailers: dict[str, str]) -> None:
        """Raise ``BadDigest`` (and the like) unless ``blob`` matches every promise."""
        if self.md5 is not None and not hmac.compare_digest(self.md5, blob.md5):
            raise S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.")
        if blob.sha256 is not None and self.payload_sha256 is not None and blob.sha256 != self.payload_sha256:
            raise S3Error(
                "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed."
            )
        expected = dict(self.header_values)
        if self.trailer is not None:
            value = trailers.get(f"x-amz-checksum-{self.trailer.lower()}")
            if value is None:
                raise S3Error("InvalidRequest", f"The x-amz-checksum-{self.trailer.lower()} trailer was not sent.")
            if checksums.decode(self.trailer, value) is None:
                raise S3Error("InvalidRequest", f"Value for x-amz-checksum-{self.trailer.lower()} trailing header is invalid.")
            expected[self.trailer] = value
        for algorithm, value in expected.items():
            if blob.checksums.get(algorithm) != value:
                raise S3Error("BadDigest", f"The {algorithm} you specified did not match the calculated checksum.")


async def _receive_blob(
    api: S3Api, req: S3Request, writer: BlobWriter, promises: _Expectations
) -> Blob:
    """Stream the body into ``writer`` and check it; the caller publishes the blob."""
    decoder = AwsChunkedDecoder() if promises.chunked else None
    try:
        await receive_into(req.receive, writer, decoder, api.executor)
        blob = await api.run(writer.finish)
    except BaseException:
        writer.discard()
        raise
    try:
        decoded = req.headers.get("x-amz-decoded-content-length")
        if decoder is not None and decoded is not None and decoded.strip().isdigit() and int(decoded) != blob.size:
            raise S3Error("IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.")
        promises.check(blob, decoder.trailers if decoder is not None else {})
    except BaseException:
        blob.discard()
        raise
    return blob


def _write_setup(api: S3Api, req: S3Request) -> tuple[_Expectations, bool]:
    promises = _Expectations(req)
    check_sha = api.authenticate(req, None)
    # Without a signature check the payload hash only guards integrity: skip it when a checksum does.
    if not check_sha and not promises.chunked and promises.payload_sha256 and not (promises.algorithm or promises.md5):
        check_sha = True
    return promises, check_sha


async def put_object(api: S3Api, req: S3Request) -> Reply:
    promises, check_sha = _write_setup(api, req)
    meta = _object_meta(req)
    algorithm = promises.algorithm or "CRC32"
    writer = await api.run(api.store.writer, req.bucket, (algorithm,), sha256=check_sha)
    blob = await _receive_blob(api, req, writer, promises)
    meta["checksum"] = {"algorithm": algorithm, "value": blob.checksums[algorithm], "type": "FULL_OBJECT"}
    if_none_match = (req.headers.get("if-none-match") or "").strip() == "*"
    info = await api.run(api.store.put, req.bucket, req.key, blob, meta, if_none_match=if_none_match)
    headers = {"ETag": info.etag}
    if promises.algorithm:
        headers[f"x-amz-checksum-{algorithm.lower()}"] = blob.checksums[algorithm]
        headers["x-amz-checksum-type"] = "FULL_OBJECT"
    return Reply(200, headers=headers)


def _copy_source(req: S3Request) -> tuple[str, str]:
    raw = req.headers["x-amz-copy-source"]
    source, _, version = unquote(raw, errors="strict").partition("?versionId=")
    if version and version != "null":
        raise _invalid("Invalid version id specified")
    bucket, _, key = source.lstrip("/").partition("/")
    if not bucket or not key:
        raise _invalid("Copy Source must mention the source bucket and key: sourcebucket/sourcekey", ArgumentName="x-amz-copy-source")
    check_bucket_name(bucket)
    return bucket, key


def _etag_matches(header: str, etag: str) -> bool:
    return any(t.strip() in ("*", etag, etag.strip('"')) for t in header.split(","))


async def copy_object(api: S3Api, req: S3Request) -> Reply:
    api.authenticate(req, b"")
    src_bucket, src_key = _copy_source(req)
    source = await api.run(api.store.head, src_bucket, src_key)
    h = req.headers
    if (m := h.get("x-amz-copy-source-if-match")) is not None and not _etag_matches(m, source.etag):
        raise S3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", 412, Condition="x-amz-copy-source-If-Match")
    if (m := h.get("x-amz-copy-source-if-none-match")) is not None and _etag_matches(m, source.etag):
        raise S3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", 412, Condition="x-amz-copy-source-If-None-Match")
    directive = (h.get("x-amz-metadata-directive") or "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise _invalid("Unknown metadata directive.", ArgumentName="x-amz-metadata-directive")
    if directive == "COPY":
        if (src_bucket, src_key) == (req.bucket, req.key):
            raise S3Error(
                "InvalidRequest",
                "This copy request is illegal because it is trying to copy an object to itself without "
                "changing the object's metadata, storage class, website redirect location or encryption attributes.",
            )
        meta = {k: v for k, v in source.meta.items() if k != "parts"}
    else:
        meta = {**_object_meta(req), "checksum": source.checksum}
    if source.parts is not None:
        meta["parts"] = source.meta["parts"]
    info = await api.run(api.store.copy, source, req.bucket, req.key, meta)
    inner = xml.el("ETag", info.etag) + xml.el("LastModified", xml.iso(info.modified))
    if info.checksum and "-" not in info.checksum["value"]:
        inner += xml.el(f"Checksum{info.checksum['algorithm']}", info.checksum["value"])
    return Reply(200, xml.document("CopyObjectResult", inner), xml=True)


# -- reading objects --------------------------------------------------------------------------


def _http_time(value: str) -> float | None:
    parsed = parsedate_tz(value)
    if parsed is None:
        return None
    return calendar.timegm(parsed[:9]) - (parsed[9] or 0)


def _preconditions(req: S3Request, info: ObjectInfo) -> None:
    h = req.headers
    modified = int(info.modified)
    if_match, if_none = h.get("if-match"), h.get("if-none-match")
    if if_match is not None and not _etag_matches(if_match, info.etag):
        raise S3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", 412, Condition="If-Match")
    if if_match is None and (v := h.get("if-unmodified-since")) is not None:
        since = _http_time(v)
        if since is not None and modified > since:
            raise S3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", 412, Condition="If-Unmodified-Since")
    not_modified = False
    if if_none is not None:
        not_modified = _etag_matches(if_none, info.etag)
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
    if start < 0 or end < start:
        return None
    if start >= size:
        raise _unsatisfiable(header, size)
    end = min(end, size - 1)
    return start, end - start + 1


def _unsatisfiable(header: str, size: int) -> S3Error:
    return S3Error(
        "InvalidRange", "The requested range is not satisfiable", 416, RangeRequested=header, ActualObjectSize=str(size)
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


async def get_object(api: S3Api, req: S3Request) -> Any:
    if "partNumber" in req.query:
        raise _not_implemented("GetObject with partNumber")
    selected: dict[str, Any] = {}

    def select(info: ObjectInfo) -> tuple[int, int]:
        _preconditions(req, info)
        rng = _range(req.headers.get("range"), info.size)
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
    if rng is None:
        headers["Content-Length"] = str(info.size)
        return ObjectStream(200, headers, reader, api.executor)
    start, length = rng
    headers["Content-Length"] = str(length)
    headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{info.size}"
    return ObjectStream(206, headers, reader, api.executor)


# -- multipart uploads --------------------------------------------------------------------------


async def create_upload(api: S3Api, req: S3Request) -> Reply:
    body = await read_small_body(req.receive, xml.MAX_XML_BODY)
    api.authenticate(req, body)
    meta = _object_meta(req)
    declared = req.headers.get("x-amz-checksum-algorithm")
    if declared:
        meta["checksum_algorithm"] = _algorithm(declared)
    kind = (req.headers.get("x-amz-checksum-type") or "").strip().upper()
    if kind:
        if kind not in ("COMPOSITE", "FULL_OBJECT"):
            raise _invalid("Value for x-amz-checksum-type header is invalid.")
        if not declared:
            raise S3Error("InvalidRequest", "The x-amz-checksum-type header requires x-amz-checksum-algorithm.")
        meta["checksum_type"] = kind
    upload_id = await api.run(api.uploads.create, req.bucket, req.key, meta)
    headers = {}
    if declared:
        headers["x-amz-checksum-algorithm"] = meta["checksum_algorithm"]
        headers["x-amz-checksum-type"] = meta["checksum_type"]
    inner = xml.el("Bucket", req.bucket) + xml.el("Key", req.key) + xml.el("UploadId", upload_id)
    return Reply(200, xml.document("InitiateMultipartUploadResult", inner), headers, xml=True)


def _part_number(req: S3Request) -> int:
    raw = req.query.get("partNumber", "")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PART_NUMBER:
        raise _invalid(
            f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive",
            ArgumentName="partNumber",
            ArgumentValue=raw,
        )
    return int(raw)


async def upload_part(api: S3Api, req: S3Request) -> Reply:
    upload_id = req.query.get("uploadId", "")
    number = _part_number(req)
    promises, check_sha = _write_setup(api, req)
    meta = await api.run(api.uploads.get, req.bucket, req.key, upload_id)
    extra = (promises.algorithm,) if promises.algorithm else ()
    writer = await api.run(api.uploads.writer, meta, extra, sha256=check_sha)
    blob = await _receive_blob(api, req, writer, promises)
    await api.run(api.uploads.put_part, upload_id, number, meta, blob)
    headers = {"ETag": f'"{blob.md5}"'}
    if meta.get("checksum_algorithm"):
        algorithm = part_algorithm(meta)
        headers[f"x-amz-checksum-{algorithm.lower()}"] = blob.checksums[algorithm]
    return Reply(200, headers=headers)


async def complete_upload(api: S3Api, req: S3Request) -> Reply:
    from modelreg.artifacts.s3_api import check_small_body

    body = await read_small_body(req.receive, xml.MAX_XML_BODY)
    api.authenticate(req, body)
    check_small_body(req, body, include_checksums=False)  # x-amz-checksum-* here is the object's
    root = xml.parse(body, "CompleteMultipartUpload")
    requested: list[RequestedPart] = []
    for node in root.findall("Part"):
        number, etag = xml.text(node, "PartNumber"), xml.text(node, "ETag")
        if number is None or etag is None or not number.strip().isdigit():
            raise xml.malformed()
        sums = {
            alg: value
            for alg in checksums.ALGORITHMS
            if (value := xml.text(node, f"Checksum{alg}")) is not None
        }
        requested.append(RequestedPart(int(number), etag, sums))
    expected = None
    for alg in checksums.ALGORITHMS:
        if (value := req.headers.get(f"x-amz-checksum-{alg.lower()}")) is not None:
            expected = (alg, value)
    upload_id = req.query.get("uploadId", "")
    info = await api.run(api.uploads.complete, req.bucket, req.key, upload_id, requested, expected)
    inner = (
        xml.el("Location", f"/{req.bucket}/{req.key}")
        + xml.el("Bucket", req.bucket)
        + xml.el("Key", req.key)
        + xml.el("ETag", info.etag)
    )
    checksum = info.checksum
    if checksum:
        inner += xml.el(f"Checksum{checksum['algorithm']}", checksum["value"]) + xml.el("ChecksumType", checksum["type"])
    return Reply(200, xml.document("CompleteMultipartUploadResult", inner), xml=True)


async def list_parts(api: S3Api, req: S3Request) -> Reply:
    upload_id = req.query.get("uploadId", "")
    meta = await api.run(api.uploads.get, req.bucket, req.key, upload_id)
    try:
        max_parts = min(int(req.query.get("max-parts", "1000")), 1000)
        marker = int(req.query.get("part-number-marker", "0") or 0)
    except ValueError:
        raise _invalid("max-parts and part-number-marker must be integers") from None
    parts = [p for p in await api.run(api.uploads.parts, upload_id) if p[0] > marker]
    page, truncated = parts[:max_parts], len(parts) > max_parts
    algorithm = meta.get("checksum_algorithm")
    items = []
    for number, _, size, etag, checksum, modified in page:
        item = xml.el("PartNumber", number) + xml.el("LastModified", xml.iso(modified)) + xml.el("ETag", etag) + xml.el("Size", size)
        if algorithm and checksum:
            item += xml.el(f"Checksum{algorithm}", checksum)
        items.append(f"<Part>{item}</Part>")
    inner = (
        xml.el("Bucket", req.bucket)
        + xml.el("Key", req.key)
        + xml.el("UploadId", upload_id)
        + xml.el("PartNumberMarker", marker)
        + (xml.el("NextPartNumberMarker", page[-1][0]) if page else "")
        + xml.el("MaxParts", max_parts)
        + xml.el("IsTruncated", "true" if truncated else "false")
        + "".join(items)
        + "<StorageClass>STANDARD</StorageClass>"
        + xml.OWNER
        + (xml.el("ChecksumAlgorithm", algorithm) if algorithm else "")
    )
    return Reply(200, xml.document("ListPartsResult", inner), xml=True)
