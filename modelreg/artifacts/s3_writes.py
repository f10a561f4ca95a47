"""The writing calls of the built-in S3 API: PutObject, CopyObject and multipart uploads, with
the checksums a request promises (headers, aws-chunked trailer, Content-MD5, payload SHA-256)
checked before anything becomes visible."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from modelreg.artifacts import checksums
from modelreg.artifacts import s3_xml as xml
from modelreg.artifacts.blobs import AwsChunkedDecoder, Blob, BlobWriter, S3Error, too_large
from modelreg.artifacts.buckets import MAX_OBJECT_SIZE, check_bucket_name
from modelreg.artifacts.multipart import MAX_PART_NUMBER, RequestedPart, part_algorithm
from modelreg.artifacts.s3_http import (
    Reply,
    S3Request,
    check_small_body,
    etag_matches,
    invalid,
    read_small_body,
    receive_into,
)

if TYPE_CHECKING:
    from modelreg.artifacts.s3_api import S3Api

STORED_HEADERS = ("cache-control", "content-disposition", "content-encoding", "content-language", "expires")
MAX_USER_METADATA = 2048
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


# -- writing objects --------------------------------------------------------------------------


def _whole_number(text: str | None) -> int | None:
    """``text`` as a non-negative integer if it is one in ASCII digits (``"²".isdigit()`` is
    true, and ``int`` refuses it), else None."""
    text = (text or "").strip()
    return int(text) if text.isascii() and text.isdigit() else None


def _object_meta(req: S3Request) -> dict[str, Any]:
    """Content type, ``x-amz-meta-*`` and the standard headers S3 stores with an object."""
    user: dict[str, str] = {}
    headers: dict[str, str] = {}
    for name, value in req.headers.items():
        if name.startswith("x-amz-meta-"):
            user[name[len("x-amz-meta-") :]] = value
        elif name in STORED_HEADERS:
            if name == "content-encoding":
                value = ",".join(
                    v.strip() for v in value.split(",") if v.strip() and v.strip() != "aws-chunked"
                )
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
            if name.startswith("x-amz-checksum-") and name not in (
                "x-amz-checksum-algorithm",
                "x-amz-checksum-type",
                "x-amz-checksum-mode",
            ):
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
        self.chunked = "aws-chunked" in (h.get("content-encoding") or "").lower() or sha.startswith(
            "streaming-"
        )

    def check(self, blob: Blob, trailers: dict[str, str]) -> None:
        """Raise ``BadDigest`` (and the like) unless ``blob`` matches every promise."""
        if self.md5 is not None and not hmac.compare_digest(self.md5, blob.md5):
            raise S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.")
        if blob.sha256 is not None and self.payload_sha256 is not None and blob.sha256 != self.payload_sha256:
            raise S3Error(
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            )
        expected = dict(self.header_values)
        if self.trailer is not None:
            value = trailers.get(f"x-amz-checksum-{self.trailer.lower()}")
            if value is None:
                raise S3Error(
                    "InvalidRequest", f"The x-amz-checksum-{self.trailer.lower()} trailer was not sent."
                )
            if checksums.decode(self.trailer, value) is None:
                raise S3Error(
                    "InvalidRequest",
                    f"Value for x-amz-checksum-{self.trailer.lower()} trailing header is invalid.",
                )
            expected[self.trailer] = value
        for algorithm, value in expected.items():
            if blob.checksums.get(algorithm) != value:
                raise S3Error(
                    "BadDigest", f"The {algorithm} you specified did not match the calculated checksum."
                )


async def _receive_blob(api: S3Api, req: S3Request, writer: BlobWriter, promises: _Expectations) -> Blob:
    """Stream the body into ``writer`` and check it; the caller publishes the blob."""
    decoder = AwsChunkedDecoder() if promises.chunked else None
    try:
        await receive_into(req, writer, decoder, api.executor, api.body_readers)
        blob = await api.run(writer.finish)
    except BaseException:
        writer.discard()
        raise
    try:
        decoded = _whole_number(req.headers.get("x-amz-decoded-content-length"))
        if decoder is not None and decoded is not None and decoded != blob.size:
            raise S3Error(
                "IncompleteBody",
                "You did not provide the number of bytes specified by the Content-Length HTTP header.",
            )
        promises.check(blob, decoder.trailers if decoder is not None else {})
    except BaseException:
        blob.discard()
        raise
    return blob


def _write_setup(api: S3Api, req: S3Request) -> tuple[_Expectations, bool]:
    promises = _Expectations(req)
    # A body announced past the limit is refused before it is read, as S3 refuses it.
    announced = _whole_number(
        req.headers.get("x-amz-decoded-content-length" if promises.chunked else "content-length")
    )
    if announced is not None and announced > MAX_OBJECT_SIZE:
        raise too_large(MAX_OBJECT_SIZE, announced)
    check_sha = req.verify_payload
    # Without a signature check the payload hash only guards integrity: skip it when a checksum does.
    if (
        not check_sha
        and not promises.chunked
        and promises.payload_sha256
        and not (promises.algorithm or promises.md5)
    ):
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
        raise invalid("Invalid version id specified")
    bucket, _, key = source.lstrip("/").partition("/")
    if not bucket or not key:
        raise invalid(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            ArgumentName="x-amz-copy-source",
        )
    check_bucket_name(bucket)
    return bucket, key


async def copy_object(api: S3Api, req: S3Request) -> Reply:
    src_bucket, src_key = _copy_source(req)
    source = await api.run(api.store.head, src_bucket, src_key)
    h = req.headers
    if (m := h.get("x-amz-copy-source-if-match")) is not None and not etag_matches(m, source.etag):
        raise S3Error(
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
            412,
            Condition="x-amz-copy-source-If-Match",
        )
    if (m := h.get("x-amz-copy-source-if-none-match")) is not None and etag_matches(m, source.etag):
        raise S3Error(
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
            412,
            Condition="x-amz-copy-source-If-None-Match",
        )
    directive = (h.get("x-amz-metadata-directive") or "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise invalid("Unknown metadata directive.", ArgumentName="x-amz-metadata-directive")
    if directive == "COPY":
        if (src_bucket, src_key) == (req.bucket, req.key):
            raise S3Error(
                "InvalidRequest",
                "This copy request is illegal because it is trying to copy an object to itself "
                "without changing the object's metadata, storage class, website redirect location "
                "or encryption attributes.",
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


# -- multipart uploads --------------------------------------------------------------------------


async def create_upload(api: S3Api, req: S3Request) -> Reply:
    await read_small_body(req, xml.MAX_XML_BODY)
    meta = _object_meta(req)
    declared = req.headers.get("x-amz-checksum-algorithm")
    if declared:
        meta["checksum_algorithm"] = _algorithm(declared)
    kind = (req.headers.get("x-amz-checksum-type") or "").strip().upper()
    if kind:
        if kind not in ("COMPOSITE", "FULL_OBJECT"):
            raise invalid("Value for x-amz-checksum-type header is invalid.")
        if not declared:
            raise S3Error(
                "InvalidRequest", "The x-amz-checksum-type header requires x-amz-checksum-algorithm."
            )
        meta["checksum_type"] = kind
    upload_id = await api.run(api.uploads.create, req.bucket, req.key, meta)
    headers = {}
    if declared:
        headers["x-amz-checksum-algorithm"] = meta["checksum_algorithm"]
        headers["x-amz-checksum-type"] = meta["checksum_type"]
    inner = xml.el("Bucket", req.bucket) + xml.el("Key", req.key) + xml.el("UploadId", upload_id)
    return Reply(200, xml.document("InitiateMultipartUploadResult", inner), headers, xml=True)


def part_number(req: S3Request) -> int:
    """The request's ``partNumber``; ``InvalidArgument`` unless it is 1 to 10,000."""
    raw = req.query.get("partNumber", "")
    number = _whole_number(raw)
    if number is None or not 1 <= number <= MAX_PART_NUMBER:
        raise invalid(
            f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive",
            ArgumentName="partNumber",
            ArgumentValue=raw,
        )
    return number


async def upload_part(api: S3Api, req: S3Request) -> Reply:
    upload_id = req.query.get("uploadId", "")
    number = part_number(req)
    promises, check_sha = _write_setup(api, req)
    meta = await api.run(api.uploads.get, req.bucket, req.key, upload_id)
    extra = (promises.algorithm,) if promises.algorithm else ()
    writer = await api.run(api.uploads.writer, meta, extra, sha256=check_sha, md5=promises.md5 is not None)
    blob = await _receive_blob(api, req, writer, promises)
    await api.run(api.uploads.put_part, upload_id, number, meta, blob)
    headers = {"ETag": api.uploads.part_etag(meta, blob)}
    if meta.get("checksum_algorithm"):
        algorithm = part_algorithm(meta)
        headers[f"x-amz-checksum-{algorithm.lower()}"] = blob.checksums[algorithm]
    return Reply(200, headers=headers)


async def complete_upload(api: S3Api, req: S3Request) -> Reply:
    body = await read_small_body(req, xml.MAX_XML_BODY)
    check_small_body(req, body, include_checksums=False)  # x-amz-checksum-* here is the object's
    root = xml.parse(body, "CompleteMultipartUpload")
    requested: list[RequestedPart] = []
    for node in root.findall("Part"):
        number, etag = xml.text(node, "PartNumber"), xml.text(node, "ETag")
        part = _whole_number(number)
        if part is None or etag is None:
            raise xml.malformed()
        sums = {
            alg: value
            for alg in checksums.ALGORITHMS
            if (value := xml.text(node, f"Checksum{alg}")) is not None
        }
        requested.append(RequestedPart(part, etag, sums))
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
        inner += xml.el(f"Checksum{checksum['algorithm']}", checksum["value"]) + xml.el(
            "ChecksumType", checksum["type"]
        )
    return Reply(200, xml.document("CompleteMultipartUploadResult", inner), xml=True)


async def list_parts(api: S3Api, req: S3Request) -> Reply:
    upload_id = req.query.get("uploadId", "")
    meta = await api.run(api.uploads.get, req.bucket, req.key, upload_id)
    try:
        max_parts = min(int(req.query.get("max-parts", "1000")), 1000)
        marker = int(req.query.get("part-number-marker", "0") or 0)
    except ValueError:
        raise invalid("max-parts and part-number-marker must be integers") from None
    parts = [p for p in await api.run(api.uploads.parts, upload_id) if p[0] > marker]
    page, truncated = parts[:max_parts], len(parts) > max_parts
    algorithm = meta.get("checksum_algorithm")
    items = []
    for number, _, size, etag, checksum, modified in page:
        item = (
            xml.el("PartNumber", number)
            + xml.el("LastModified", xml.iso(modified))
            + xml.el("ETag", etag)
            + xml.el("Size", size)
        )
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


async def list_uploads(api: S3Api, req: S3Request) -> Reply:
    """ListMultipartUploads: the bucket's unfinished uploads by key and initiation, with S3's
    ``prefix``, ``delimiter`` (keys rolled up into common prefixes), ``key-marker`` /
    ``upload-id-marker``, ``max-uploads`` and ``encoding-type``."""
    q = req.query
    encoding = q.get("encoding-type")
    if encoding not in (None, "url"):
        raise invalid("Invalid Encoding Method specified in Request", ArgumentName="encoding-type")
    max_uploads = _whole_number(q.get("max-uploads", "1000"))
    if max_uploads is None:
        raise invalid(
            "Provided max-uploads not an integer or within integer range", ArgumentName="max-uploads"
        )
    max_uploads = min(max_uploads, 1000)
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    markers = (q.get("key-marker", ""), q.get("upload-id-marker", ""))
    rows = await api.run(api.uploads.listing, req.bucket, prefix, markers if markers[0] else None)
    if delimiter and markers[0].endswith(delimiter) and not markers[1]:  # after a common prefix
        rows = [row for row in rows if not row[0].startswith(markers[0])]
    uploads: list[tuple[str, str, float, dict[str, Any]]] = []
    prefixes: list[str] = []
    last: tuple[str, str] | None = None  # the markers of the last upload or prefix listed
    next_markers: tuple[str, str] | None = None
    for row in rows:
        cut = row[0].find(delimiter, len(prefix)) if delimiter else -1
        common = row[0][: cut + len(delimiter)] if cut >= 0 else None
        if common is not None and prefixes and prefixes[-1] == common:
            continue
        if len(uploads) + len(prefixes) >= max_uploads:
            next_markers = last
            break
        if common is not None:
            prefixes.append(common)
            last = (common, "")
        else:
            uploads.append(row)
            last = (row[0], row[1])
    body = xml.list_uploads(
        req.bucket,
        uploads,
        prefixes,
        prefix=prefix,
        delimiter=delimiter,
        markers=markers,
        next_markers=next_markers,
        max_uploads=max_uploads,
        url=encoding == "url",
    )
    return Reply(200, body, xml=True)
