"""S3's rest-xml on the wire: response documents, error bodies, and the small request bodies
(DeleteObjects, CompleteMultipartUpload, CreateBucket) parsed with limits."""

from __future__ import annotations

import time
from collections.abc import Iterable
from email.utils import formatdate
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from modelreg.artifacts.blobs import S3Error
from modelreg.artifacts.buckets import Listing, ObjectInfo

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'
OWNER = "<Owner><ID>modelreg</ID><DisplayName>modelreg</DisplayName></Owner>"
#: who started a multipart upload: the one owner
INITIATOR = "<Initiator><ID>modelreg</ID><DisplayName>modelreg</DisplayName></Initiator>"


def iso(epoch: float) -> str:
    """S3's timestamp in XML bodies: ``2026-11-26T10:31:38.000Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1000):03d}Z"


def http_date(epoch: float) -> str:
    """``Last-Modified`` style: ``Thu, 26 Nov 2026 10:31:38 GMT``."""
    return formatdate(int(epoch), usegmt=True)


def el(name: str, value: object) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


def document(root: str, inner: str) -> bytes:
    return f'{XML_DECL}<{root} xmlns="{NS}">{inner}</{root}>'.encode()


def error_body(error: S3Error, request_id: str, resource: str = "") -> bytes:
    fields = "".join(el(k, v) for k, v in error.fields.items())
    if resource and "Resource" not in error.fields:
        fields += el("Resource", resource)
    return (
        f"{XML_DECL}<Error>{el('Code', error.code)}{el('Message', error.message)}{fields}"
        f"{el('RequestId', request_id)}{el('HostId', request_id)}</Error>"
    ).encode()


def encode(value: str, url: bool) -> str:
    """``value`` as a listing with ``encoding-type=url`` shows keys and prefixes."""
    return quote(value, safe="/") if url else value


def list_buckets(buckets: Iterable[tuple[str, float]]) -> bytes:
    items = "".join(f"<Bucket>{el('Name', n)}{el('CreationDate', iso(c))}</Bucket>" for n, c in buckets)
    return document("ListAllMyBucketsResult", f"{OWNER}<Buckets>{items}</Buckets>")


def _contents(info: ObjectInfo, url: bool) -> str:
    return (
        f"<Contents>{el('Key', encode(info.key, url))}{el('LastModified', iso(info.modified))}"
        f"{el('ETag', info.etag)}{el('Size', info.size)}"
        + (
            el("ChecksumAlgorithm", info.checksum["algorithm"])
            + el("ChecksumType", info.checksum.get("type", "FULL_OBJECT"))
            if info.checksum
            else ""
        )
        + "<StorageClass>STANDARD</StorageClass></Contents>"
    )


def list_objects(
    bucket: str,
    listing: Listing,
    *,
    v2: bool,
    prefix: str,
    delimiter: str,
    max_keys: int,
    url: bool,
    start_after: str = "",
    token: str | None = None,
    next_token: str | None = None,
    marker: str = "",
) -> bytes:
    """ListBucketResult of ListObjectsV2 (``v2``) or ListObjects."""
    parts = [el("Name", bucket), el("Prefix", encode(prefix, url))]
    if v2:
        parts.append(el("KeyCount", len(listing.objects) + len(listing.prefixes)))
        if token is not None:
            parts.append(el("ContinuationToken", token))
        if start_after:
            parts.append(el("StartAfter", encode(start_after, url)))
    else:
        parts.append(el("Marker", encode(marker, url)))
    parts.append(el("MaxKeys", max_keys))
    if delimiter:
        parts.append(el("Delimiter", encode(delimiter, url)))
    parts.append(el("IsTruncated", "true" if listing.truncated else "false"))
    if listing.truncated:
        if v2 and next_token:
            parts.append(el("NextContinuationToken", next_token))
        elif not v2 and delimiter and listing.last_item is not None:
            parts.append(el("NextMarker", encode(listing.last_item, url)))
    if url:
        parts.append(el("EncodingType", "url"))
    parts.extend(_contents(info, url) for info in listing.objects)
    parts.extend(f"<CommonPrefixes>{el('Prefix', encode(p, url))}</CommonPrefixes>" for p in listing.prefixes)
    return document("ListBucketResult", "".join(parts))


def list_uploads(
    bucket: str,
    uploads: list[tuple[str, str, float, dict[str, Any]]],
    prefixes: list[str],
    *,
    prefix: str,
    delimiter: str,
    markers: tuple[str, str],
    next_markers: tuple[str, str] | None,
    max_uploads: int,
    url: bool,
) -> bytes:
    """ListMultipartUploadsResult; ``next_markers`` when it is truncated."""
    parts = [el("Bucket", bucket), el("KeyMarker", encode(markers[0], url)), el("UploadIdMarker", markers[1])]
    if next_markers is not None:
        next_key, next_upload = next_markers
        parts += [el("NextKeyMarker", encode(next_key, url)), el("NextUploadIdMarker", next_upload)]
    if delimiter:
        parts.append(el("Delimiter", encode(delimiter, url)))
    parts += [el("Prefix", encode(prefix, url)), el("MaxUploads", max_uploads)]
    parts.append(el("IsTruncated", "true" if next_markers is not None else "false"))
    if url:
        parts.append(el("EncodingType", "url"))
    for key, upload_id, created, meta in uploads:
        item = el("Key", encode(key, url)) + el("UploadId", upload_id) + INITIATOR + OWNER
        item += el("StorageClass", "STANDARD") + el("Initiated", iso(created))
        if meta.get("checksum_algorithm"):
            item += el("ChecksumAlgorithm", meta["checksum_algorithm"])
        if meta.get("checksum_type"):
            item += el("ChecksumType", meta["checksum_type"])
        parts.append(f"<Upload>{item}</Upload>")
    parts.extend(f"<CommonPrefixes>{el('Prefix', encode(p, url))}</CommonPrefixes>" for p in prefixes)
    return document("ListMultipartUploadsResult", "".join(parts))


# -- request bodies ---------------------------------------------------------------------------

MAX_XML_BODY = 2 * 1024 * 1024


def parse(body: bytes, root: str) -> ElementTree.Element:
    """The document element of an XML request body (namespaces dropped); ``MalformedXML`` unless
    it is well-formed and named ``root``."""
    try:
        tree = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise malformed() from None
    for node in tree.iter():
        if isinstance(node.tag, str) and "}" in node.tag:
            node.tag = node.tag.split("}", 1)[1]
    if tree.tag != root:
        raise malformed()
    return tree


def malformed() -> S3Error:
    return S3Error(
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema",
    )


def text(node: ElementTree.Element, name: str) -> str | None:
    child = node.find(name)
    return None if child is None else (child.text or "")
