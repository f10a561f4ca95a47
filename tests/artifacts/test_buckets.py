"""The built-in S3 store below HTTP: the on-disk store, aws-chunked decoding, checksums, and the
artifact store that reads it."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import random
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from modelreg.artifacts import ArtifactNotFound, ArtifactUnreadable, direct_io, open_artifacts, s3_http
from modelreg.artifacts import checksums as ck
from modelreg.artifacts.blobs import AwsChunkedDecoder, S3Error
from modelreg.artifacts.buckets import BucketStore, ObjectInfo, successor
from modelreg.artifacts.builtin import BuiltinArtifactStore
from modelreg.artifacts.multipart import RequestedPart, Uploads
from modelreg.artifacts.s3 import S3ArtifactStore
from modelreg.config import Settings
from modelreg.http_protocol import SOCKET_BODY

MB = 1024 * 1024


@pytest.fixture
def store(tmp_path: Path) -> BucketStore:
    s = BucketStore(tmp_path / "s3")
    s.create_bucket("bkt")
    return s


def put(store: BucketStore, key: str, data: bytes, bucket: str = "bkt", **meta: Any) -> ObjectInfo:
    writer = store.writer(bucket, ("CRC32",))
    writer.write(data)
    return store.put(bucket, key, writer.finish(), dict(meta))


def data_files(store: BucketStore, bucket: str = "bkt") -> list[Path]:
    return sorted(p for p in (store.root / bucket).rglob("*") if p.is_file())


def read(store: BucketStore, key: str) -> bytes:
    _, reader = store.open("bkt", key)
    with reader:
        return reader.read_all()


def test_keys_never_reach_the_file_system(store: BucketStore) -> None:
    keys = ["../../../outside", "/etc/passwd", "a/../../b", "\\..\\x", "nul\x00byte", "ü" * 300]
    for key in keys:
        put(store, key, key.encode())
    assert [read(store, k) for k in keys] == [k.encode() for k in keys]
    files = data_files(store)
    assert len(files) == len(keys)
    assert all(f.resolve().is_relative_to((store.root / "bkt").resolve()) for f in files)
    assert all(len(f.name) == 32 for f in files)  # random ids, not keys
    with pytest.raises(S3Error, match="too long") as exc:
        put(store, "é" * 513, b"")  # 1026 bytes of UTF-8
    assert exc.value.code == "KeyTooLongError"


def test_bucket_names_follow_s3_rules(store: BucketStore) -> None:
    for bad in ("..", ".tmp", "a", "Bkt", "b_k", "bkt-", "1.2.3.4", "a..b"):
        with pytest.raises(S3Error) as exc:
            store.create_bucket(bad)
        assert exc.value.code == "InvalidBucketName"
    assert [name for name, _ in store.list_buckets()] == ["bkt"]


def test_overwrite_and_delete_remove_old_data_but_open_readers_keep_reading(store: BucketStore) -> None:
    put(store, "k", b"first" * 1000)
    _, reader = store.open("bkt", "k")
    put(store, "k", b"second")
    assert len(data_files(store)) == 1
    assert read(store, "k") == b"second"
    store.delete("bkt", "k")
    assert data_files(store) == []
    with reader:
        assert reader.read_all() == b"first" * 1000  # the file was unlinked, not pulled away
    with pytest.raises(S3Error) as exc:
        store.head("bkt", "k")
    assert exc.value.code == "NoSuchKey"


def test_copy_links_the_data(store: BucketStore) -> None:
    source = put(store, "src", b"weights", content_type="application/octet-stream")
    copy = store.copy(source, "bkt", "dst", source.meta)
    assert copy.etag == source.etag
    assert os.stat(store.data_path("bkt", copy.data_id)).st_nlink == 2
    store.delete("bkt", "src")
    assert read(store, "dst") == b"weights"


def test_listing_with_prefix_delimiter_and_cursor(store: BucketStore) -> None:
    keys = ["a", "a/b", "a/b/c", "a/c", "a::x::1", "a::x::2", "a::y", "b", "\U0010ffff", "\U0010ffff/z"]
    for key in keys:
        put(store, key, b"")
    listing = store.list_objects("bkt", prefix="a", delimiter="::")
    assert [o.key for o in listing.objects] == ["a", "a/b", "a/b/c", "a/c"]
    assert listing.prefixes == ["a::"]
    listing = store.list_objects("bkt", prefix="a::", delimiter="::")
    assert ([o.key for o in listing.objects], listing.prefixes) == (["a::y"], ["a::x::"])
    listing = store.list_objects("bkt", delimiter="/")
    assert [o.key for o in listing.objects] == ["a", "a::x::1", "a::x::2", "a::y", "b", "\U0010ffff"]
    assert listing.prefixes == ["a/", "\U0010ffff/"]
    # page by two through everything, resuming from the cursor each time
    seen: list[str] = []
    cursor = None
    while True:
        page = store.list_objects("bkt", delimiter="/", max_keys=2, cursor=cursor)
        seen += [o.key for o in page.objects] + page.prefixes
        if not page.truncated:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted([o.key for o in listing.objects] + listing.prefixes)
    assert successor("a\U0010ffff") == "b" and successor("\U0010ffff") is None
    assert successor("\ud7ff"[:0] + "\ud7ff") == "\ue000"


def test_recover_removes_what_a_crash_leaves(store: BucketStore) -> None:
    put(store, "kept", b"data")
    writer = store.writer("bkt")
    writer.write(b"half an upload")  # never finished: the process "died"
    orphan = store.data_path("bkt", "f" * 32)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"renamed but never committed")
    stray_upload = store.uploads_dir / ("x" * 64)
    stray_upload.mkdir()
    removed = store.recover()
    assert removed == {"temp": 1, "orphans": 1, "uploads": 1}
    assert list(store.tmp_dir.iterdir()) == [] and not orphan.exists() and not stray_upload.exists()
    assert read(store, "kept") == b"data"


def test_delete_bucket_needs_it_empty(store: BucketStore) -> None:
    put(store, "k", b"x")
    with pytest.raises(S3Error) as exc:
        store.delete_bucket("bkt")
    assert exc.value.code == "BucketNotEmpty"
    store.delete("bkt", "k")
    store.delete_bucket("bkt")
    assert not (store.root / "bkt").exists()


def test_multipart_objects_are_their_part_files(store: BucketStore) -> None:
    uploads = Uploads(store)
    uid = uploads.create("bkt", "big", {"checksum_algorithm": "CRC32C", "checksum_type": "FULL_OBJECT"})
    meta = uploads.get("bkt", "big", uid)
    bodies = [os.urandom(5 * MB), os.urandom(5 * MB), b"tail"]
    etags = []
    for number, body in enumerate(bodies, 1):
        for attempt in (b"replaced", body):  # a re-uploaded part replaces the first one
            writer = uploads.writer(meta, (), sha256=False)
            writer.write(attempt)
            blob = writer.finish()
            uploads.put_part(uid, number, meta, blob)
        etags.append(uploads.part_etag(meta, blob))
    info = uploads.complete(
        "bkt", "big", uid, [RequestedPart(1, etags[0], {}), RequestedPart(3, etags[2], {})]
    )
    whole = bodies[0] + bodies[2]
    assert read(store, "big") == whole
    assert info.checksum == {
        "algorithm": "CRC32C",
        "value": ck.checksum_of("CRC32C", whole),
        "type": "FULL_OBJECT",
    }
    assert len(data_files(store)) == 2  # part 2 went; nothing was copied
    assert list(store.uploads_dir.iterdir()) == []
    _, reader = store.open("bkt", "big", lambda i: (5 * MB - 3, 7))
    with reader:
        assert reader.read_all() == whole[5 * MB - 3 : 5 * MB + 4]


# -- aws-chunked ----------------------------------------------------------------------------------


def _chunked(payload: bytes, sizes: list[int], trailer: bytes = b"", signed: bool = False) -> bytes:
    out, pos = [], 0
    ext = b";chunk-signature=" + b"0" * 64 if signed else b""
    for size in sizes:
        out.append(b"%x%s\r\n%s\r\n" % (size, ext, payload[pos : pos + size]))
        pos += size
    return b"".join(out) + b"0%s\r\n%s\r\n" % (ext, trailer)


@pytest.mark.parametrize("signed", [False, True])
def test_aws_chunked_decoding_at_any_split(signed: bool) -> None:
    payload = os.urandom(3000)
    trailer = b"x-amz-checksum-crc32:" + base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")) + b"\r\n"
    body = _chunked(payload, [1000, 1000, 1000], trailer, signed)
    rng = random.Random(7)
    for _ in range(50):
        decoder, out, pos = AwsChunkedDecoder(), [], 0
        while pos < len(body):
            step = rng.choice([1, 2, 3, 7, 100, 1500, 5000])
            out += [bytes(p) for p in decoder.feed(bytearray(body[pos : pos + step]))]
            pos += step
        decoder.close()
        assert b"".join(out) == payload
        assert decoder.trailers == {"x-amz-checksum-crc32": trailer[21:-2].decode()}


@pytest.mark.parametrize(
    "body", [b"zz\r\n", b"5\r\nabc", b"3\r\nabcXY0\r\n\r\n", b"3\r\nabc\r\n", b"0\r\nno-colon\r\n\r\n"]
)
def test_malformed_aws_chunked_bodies(body: bytes) -> None:
    decoder = AwsChunkedDecoder()
    with pytest.raises(S3Error) as exc:
        decoder.feed(bytearray(body))
        decoder.close()
    assert exc.value.code == "IncompleteBody"


class _Socket:
    """Stands in for a :class:`SocketBody` after ``detach``: hands out ``data`` in reads of a
    random size (a real one fills the buffer unless the client pauses), never past its end."""

    def __init__(self, data: bytes, rng: random.Random) -> None:
        self.data, self.pos, self.rng = data, 0, rng

    def read_into(self, buffer: memoryview) -> int:
        count = min(len(buffer), self.rng.choice([1, 5, 4096, 70000, len(buffer)]))
        assert self.pos + count <= len(self.data), "read past the body"
        buffer[:count] = self.data[self.pos : self.pos + count]
        self.pos += count
        return count


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("direct", [True, False])
def test_bodies_pumped_from_the_socket_read_data_past_the_decoder(
    store: BucketStore, signed: bool, direct: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not direct:  # the buffered path of file systems that refuse O_DIRECT
        monkeypatch.setattr(direct_io, "_O_DIRECT", 0)
    payload = os.urandom(9 * MB + 5)
    trailer = b"x-amz-checksum-crc32:" + base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")) + b"\r\n"
    body = _chunked(payload, [5 * MB, 1, 3000, 4 * MB - 3001, 5], trailer, signed)
    for seed in range(3):
        rng = random.Random(seed)
        early = rng.randrange(1, 300_000)
        decoder, writer = AwsChunkedDecoder(), store.writer("bkt", ("CRC32",))
        s3_http._consume(writer, decoder, [body[:early]])
        socket = _Socket(body[early:], rng)
        s3_http._pump(socket, len(body) - early, writer, decoder)  # type: ignore[arg-type]
        decoder.close()
        blob = writer.finish()
        assert socket.pos == len(body) - early
        assert blob.path.read_bytes() == payload and blob.size == len(payload)
        assert blob.checksums["CRC32"] == trailer[21:-2].decode() == decoder.trailers["x-amz-checksum-crc32"]
        blob.discard()
    plain, writer = os.urandom(3 * MB), store.writer("bkt", ())
    s3_http._pump(_Socket(plain, random.Random(1)), len(plain), writer, None)  # type: ignore[arg-type]
    assert writer.finish().path.read_bytes() == plain


def test_bodies_go_through_the_event_loop_when_every_body_reader_is_busy(store: BucketStore) -> None:
    class Untouchable:
        def detach(self) -> None:
            raise AssertionError("the socket was taken with no reader free")

    payload = os.urandom(9 * MB)
    messages = [payload[i : i + 300_000] for i in range(0, len(payload), 300_000)]

    async def receive() -> dict[str, Any]:
        body = messages.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(messages)}

    readers = s3_http.BodyReaders(threads=1)
    readers.idle = 0
    request = SimpleNamespace(scope={"extensions": {SOCKET_BODY: Untouchable()}}, receive=receive)
    writer = store.writer("bkt", ("CRC32",))
    with ThreadPoolExecutor(2) as executor:
        asyncio.run(s3_http.receive_into(request, writer, None, executor, readers))  # type: ignore[arg-type]
    assert writer.finish().path.read_bytes() == payload


# -- checksums ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "check"),
    [("CRC32", "cbf43926"), ("CRC32C", "e3069283"), ("CRC64NVME", "ae8b14860a799888")],
)
def test_crc_check_values_and_combining(algorithm: str, check: str) -> None:
    assert base64.b64decode(ck.checksum_of(algorithm, b"123456789")).hex() == check
    a, b = os.urandom(1234), os.urandom(777)
    raw = [base64.b64decode(ck.checksum_of(algorithm, x)) for x in (a, b)]
    assert ck.full_object(algorithm, [(raw[0], len(a)), (raw[1], len(b))]) == ck.checksum_of(algorithm, a + b)


#: reflected polynomial and width of each CRC, for the bit-at-a-time reference below
_CRC_PARAMETERS = {
    "CRC32": (0xEDB88320, 32),
    "CRC32C": (0x82F63B78, 32),
    "CRC64NVME": (0x9A6C9329AC4BC9B5, 64),
}


def _reference_crc(algorithm: str, data: bytes) -> bytes:
    poly, width = _CRC_PARAMETERS[algorithm]
    mask = (1 << width) - 1
    crc = mask
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
    return (crc ^ mask).to_bytes(width // 8, "big")


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME"])
def test_crcs_over_pieces_of_any_buffer_type_match_the_reference(algorithm: str) -> None:
    data = os.urandom(5000)
    hasher = ck.new_hasher(algorithm)
    view = memoryview(bytearray(data))
    for start, end in ((0, 1), (1, 1000), (1000, 1000), (1000, 4093), (4093, 5000)):
        hasher.update(view[start:end])
    assert hasher.digest() == _reference_crc(algorithm, data)


def test_composite_checksum_is_s3s() -> None:
    # three parts' CRC32s and the composite moto (like S3) reported for them
    parts = [base64.b64decode(v) for v in ("EK8Wlg==", "uh6Plw==", "UbBkyw==")]
    assert ck.composite("CRC32", parts) == "waj8uw==-3"
    assert ck.decode("CRC32", "not base64!") is None and ck.decode("SHA256", "AAAA") is None


# -- the artifact store over the built-in S3 store ------------------------------------------------


def test_builtin_artifact_store(store: BucketStore, tmp_path: Path) -> None:
    body = os.urandom(3 * MB + 1)
    put(store, "models/model.tar.gz", body)
    put(store, "eval/metrics.json", b'{"auc": 0.9}')
    artifacts = open_artifacts(Settings(data_dir=tmp_path))
    assert artifacts.read("s3://bkt/eval/metrics.json") == b'{"auc": 0.9}'
    assert artifacts.sha256("s3://bkt/models/model.tar.gz") == hashlib.sha256(body).hexdigest()
    dest = tmp_path / "model.tar.gz"
    assert artifacts.fetch_to_file("s3://bkt/models/model.tar.gz", dest) == hashlib.sha256(body).hexdigest()
    assert dest.read_bytes() == body
    with pytest.raises(ArtifactUnreadable, match="larger than"):
        artifacts.read("s3://bkt/models/model.tar.gz", max_bytes=1024)
    with pytest.raises(ArtifactNotFound, match="no such object"):
        artifacts.read("s3://bkt/missing")
    with pytest.raises(ArtifactNotFound, match="no such bucket"):
        artifacts.sha256("s3://nobucket/x")
    with pytest.raises(ArtifactUnreadable):
        BuiltinArtifactStore(store.root).read("s3://bkt")

    assert artifacts.size("s3://bkt/models/model.tar.gz") == len(body)
    artifacts.delete("s3://bkt/models/model.tar.gz")
    with pytest.raises(ArtifactNotFound, match="no such object"):
        artifacts.size("s3://bkt/models/model.tar.gz")
    with pytest.raises(ArtifactNotFound, match="no such object"):
        artifacts.delete("s3://bkt/models/model.tar.gz")
    assert store.list_objects("bkt", prefix="models/").objects == []


def test_which_store_reads_s3_uris() -> None:
    def s3_store(settings: Settings) -> object:
        router = open_artifacts(settings)
        return router._store_for("s3://b/k")  # type: ignore[attr-defined]

    assert isinstance(s3_store(Settings()), BuiltinArtifactStore)
    assert isinstance(s3_store(Settings(s3_endpoint_url="http://minio:9000")), S3ArtifactStore)
    assert isinstance(s3_store(Settings(builtin_s3=False, artifact_store_uri="s3://b/p")), S3ArtifactStore)
