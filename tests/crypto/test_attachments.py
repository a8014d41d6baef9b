"""Attachment blobs (PROTOCOL.md §14): round trips, every kind of tampering, the reference."""

from __future__ import annotations

import os
import random
import time
import unicodedata

import pytest
from nacl.bindings import (
    crypto_hash_sha256,
    crypto_secretstream_xchacha20poly1305_init_pull,
    crypto_secretstream_xchacha20poly1305_init_push,
    crypto_secretstream_xchacha20poly1305_push,
    crypto_secretstream_xchacha20poly1305_state,
    crypto_secretstream_xchacha20poly1305_TAG_FINAL,
    crypto_secretstream_xchacha20poly1305_TAG_MESSAGE,
    crypto_secretstream_xchacha20poly1305_TAG_PUSH,
)

from crypto.attachments import (
    CHUNK_OVERHEAD,
    CHUNK_SIZE,
    CIPHERTEXT_CHUNK_SIZE,
    MAX_ATTACHMENT_SIZE,
    STREAM_HEADER_SIZE,
    AttachmentDecryptor,
    AttachmentEncryptor,
    AttachmentRef,
    ciphertext_size,
    new_blob_hasher,
    normalise_media_type,
    sanitise_file_name,
)
from crypto.encoding import b64e, canonical_json, frame
from crypto.errors import (
    AttachmentDecryptionError,
    AttachmentError,
    AttachmentHashMismatch,
    AttachmentTrailingData,
    AttachmentTruncated,
    CryptoError,
    MalformedError,
)
from crypto.labels import LABEL_ATTACHMENT_BLOB, LABEL_ATTACHMENT_CHUNK
from tests.crypto.crypto_world import pinned_rng


def encrypt(data: bytes, **kwargs) -> tuple[bytes, AttachmentRef]:
    encryptor = AttachmentEncryptor(**kwargs)
    blob = encryptor.update(data) + encryptor.finish()
    return blob, encryptor.reference(name="scan.pdf", media_type="application/pdf")


def decrypt(blob: bytes, ref: AttachmentRef, piece: int = 10_000) -> bytes:
    decryptor = AttachmentDecryptor(ref)
    out = [decryptor.update(blob[i : i + piece]) for i in range(0, len(blob), piece)]
    out.append(decryptor.finish())
    return b"".join(out)


def rehashed(ref: AttachmentRef, blob: bytes, size: int | None = None) -> AttachmentRef:
    """The reference a key holder could write for `blob`: isolates the AEAD layer's checks."""
    hasher = new_blob_hasher()
    hasher.update(blob)
    return AttachmentRef(
        blob_hash=hasher.digest(),
        size=ref.size if size is None else size,
        name=ref.name,
        media_type=ref.media_type,
        file_key=ref.file_key,
    )


def chunk_bounds(blob: bytes) -> list[tuple[int, int]]:
    starts = range(STREAM_HEADER_SIZE, len(blob), CIPHERTEXT_CHUNK_SIZE)
    return [(s, min(s + CIPHERTEXT_CHUNK_SIZE, len(blob))) for s in starts]


def raw_blob(key: bytes, chunks: list[tuple[bytes, int]]) -> bytes:
    """A blob written with raw libsodium calls, for forms our encryptor never produces."""
    state = crypto_secretstream_xchacha20poly1305_state()
    header = crypto_secretstream_xchacha20poly1305_init_push(state, key)
    out = [header]
    for index, (chunk, tag) in enumerate(chunks):
        ad = frame(LABEL_ATTACHMENT_CHUNK, index.to_bytes(8, "big"))
        out.append(crypto_secretstream_xchacha20poly1305_push(state, chunk, ad, tag))
    return b"".join(out)


SIZES = [
    0,
    1,
    100,
    CHUNK_SIZE - 1,
    CHUNK_SIZE,
    CHUNK_SIZE + 1,
    2 * CHUNK_SIZE - 1,
    2 * CHUNK_SIZE,
    2 * CHUNK_SIZE + 1,
]


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_of_every_size_around_chunk_boundaries(size):
    data = os.urandom(size)
    blob, ref = encrypt(data)
    assert len(blob) == ciphertext_size(size) == ref.blob_size
    assert decrypt(blob, ref) == data
    assert decrypt(blob, ref, piece=1 if size < 300 else 4099) == data


def test_round_trip_of_a_few_megabytes_fed_in_random_pieces():
    rand = random.Random(7)
    data = rand.randbytes(3 * 1024 * 1024 + 12345)
    encryptor = AttachmentEncryptor()
    blob_parts, pos = [], 0
    while pos < len(data):
        step = rand.choice([1, 17, 4096, CHUNK_SIZE, CHUNK_SIZE + 3, 300_000])
        blob_parts.append(encryptor.update(data[pos : pos + step]))
        pos += step
    blob_parts.append(encryptor.finish())
    blob = b"".join(blob_parts)
    ref = encryptor.reference(name="video.mp4", media_type="video/mp4")
    decryptor = AttachmentDecryptor(ref)
    out, pos = [], 0
    while pos < len(blob):
        step = rand.choice([1, 23, CIPHERTEXT_CHUNK_SIZE, 1 << 20])
        out.append(decryptor.update(blob[pos : pos + step]))
        pos += step
    out.append(decryptor.finish())
    assert b"".join(out) == data


@pytest.mark.parametrize("seed", range(6))
def test_any_way_of_feeding_the_file_gives_the_same_blob(seed):
    rand = random.Random(seed)
    data = rand.randbytes(rand.choice([0, 1, CHUNK_SIZE, 5 * CHUNK_SIZE, 700_001]))
    one_shot = AttachmentEncryptor(file_key=bytes(32), stream_header=bytes(24))
    expected = one_shot.update(data) + one_shot.finish()
    fed = AttachmentEncryptor(file_key=bytes(32), stream_header=bytes(24))
    parts, pos = [], 0
    kinds = [bytes, bytearray, memoryview]
    while pos < len(data) or not parts:
        step = rand.choice([0, 1, 2, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 1 << 20])
        parts.append(fed.update(rand.choice(kinds)(data[pos : pos + step])))
        pos += step
    parts.append(fed.finish())
    assert b"".join(parts) == expected
    assert fed.blob_hash == one_shot.blob_hash


@pytest.mark.slow
def test_round_trip_of_100_megabytes_in_bounded_pieces():
    """Timed: the spec promises streaming at memory speed, not merely correctness."""
    piece = os.urandom(1 << 20)
    total = 100 * 1024 * 1024
    started = time.monotonic()
    encryptor = AttachmentEncryptor()
    hasher = new_blob_hasher()
    blob_pieces = []
    for _ in range(total // len(piece)):
        out = encryptor.update(piece)
        hasher.update(out)
        blob_pieces.append(out)
    blob_pieces.append(encryptor.finish())
    ref = encryptor.reference(name="statement.mp4", media_type="video/mp4")
    decryptor = AttachmentDecryptor(ref)
    done = 0
    for blob_piece in blob_pieces:
        plain = decryptor.update(blob_piece)
        # Every returned plaintext is the next slice of the (periodic) input.
        assert plain == (piece * 2)[done % len(piece) : done % len(piece) + len(plain)]
        done += len(plain)
    decryptor.finish()
    assert done == total
    assert time.monotonic() - started < 30


def test_given_key_and_header_the_same_file_gives_the_same_blob():
    """An interrupted upload resumes by re-encrypting with the recorded key and header."""
    data = os.urandom(3 * CHUNK_SIZE + 5)
    first = AttachmentEncryptor()
    blob = first.update(data) + first.finish()
    again = AttachmentEncryptor(file_key=first.file_key, stream_header=first.stream_header)
    assert again.update(data[:100]) + again.update(data[100:]) + again.finish() == blob
    assert again.blob_hash == first.blob_hash


def test_pinned_randomness_is_drawn_key_first_then_header():
    encryptor = AttachmentEncryptor(rng=pinned_rng(b"order"))
    draw = pinned_rng(b"order")
    assert encryptor.file_key == draw(32)
    assert encryptor.stream_header == draw(STREAM_HEADER_SIZE)


def test_init_pull_with_a_header_gives_the_state_init_push_makes():
    """The encryptor's pinned-header set-up relies on this libsodium identity."""
    key = os.urandom(32)
    pushed = crypto_secretstream_xchacha20poly1305_state()
    header = crypto_secretstream_xchacha20poly1305_init_push(pushed, key)
    pulled = crypto_secretstream_xchacha20poly1305_state()
    crypto_secretstream_xchacha20poly1305_init_pull(pulled, header, key)
    assert bytes(pushed.statebuf) == bytes(pulled.statebuf)


def test_blob_written_by_libsodium_init_push_opens():
    data = os.urandom(CHUNK_SIZE + 10)
    key = os.urandom(32)
    blob = raw_blob(
        key,
        [
            (data[:CHUNK_SIZE], crypto_secretstream_xchacha20poly1305_TAG_MESSAGE),
            (data[CHUNK_SIZE:], crypto_secretstream_xchacha20poly1305_TAG_FINAL),
        ],
    )
    hasher = new_blob_hasher()
    hasher.update(blob)
    ref = AttachmentRef(hasher.digest(), len(data), "a.bin", "application/octet-stream", key)
    assert decrypt(blob, ref) == data


def test_blob_hash_is_sha256_of_the_framed_label_and_the_blob():
    blob, ref = encrypt(b"hello")
    assert ref.blob_hash == crypto_hash_sha256(frame(LABEL_ATTACHMENT_BLOB) + blob)


def test_ciphertext_size_counts_one_chunk_for_an_empty_file():
    assert ciphertext_size(0) == STREAM_HEADER_SIZE + CHUNK_OVERHEAD
    assert ciphertext_size(CHUNK_SIZE) == STREAM_HEADER_SIZE + CIPHERTEXT_CHUNK_SIZE
    assert ciphertext_size(CHUNK_SIZE + 1) == STREAM_HEADER_SIZE + CHUNK_SIZE + 1 + 2 * 17
    with pytest.raises(MalformedError):
        ciphertext_size(MAX_ATTACHMENT_SIZE + 1)


def test_encryptor_refuses_more_than_two_gib():
    encryptor = AttachmentEncryptor()
    encryptor._plaintext_size = MAX_ATTACHMENT_SIZE  # as if 2 GiB had gone through
    with pytest.raises(MalformedError):
        encryptor.update(b"x")


# --- tampering ------------------------------------------------------------------------------

TAMPER_SIZE = 3 * CHUNK_SIZE + 100  # three full chunks and a short final one


@pytest.fixture(scope="module")
def sample():
    data = os.urandom(TAMPER_SIZE)
    blob, ref = encrypt(data)
    return data, blob, ref


def regions(blob: bytes) -> dict[str, int]:
    """One byte offset in every region of the blob: header, and each chunk's tag, body, MAC."""
    out = {"header start": 0, "header end": STREAM_HEADER_SIZE - 1}
    for i, (start, end) in enumerate(chunk_bounds(blob)):
        out[f"chunk {i} tag byte"] = start
        out[f"chunk {i} body"] = (start + end) // 2
        out[f"chunk {i} mac"] = end - 1
    return out


@pytest.mark.parametrize("region", list(regions(bytes(ciphertext_size(TAMPER_SIZE)))))
def test_flipping_a_byte_in_any_region_is_refused(sample, region):
    data, blob, ref = sample
    offset = regions(blob)[region]
    tampered = bytearray(blob)
    tampered[offset] ^= 0x01
    with pytest.raises(AttachmentError):
        decrypt(bytes(tampered), ref)
    # Even with a reference rewritten to the tampered bytes, the chunk does not authenticate.
    with pytest.raises(AttachmentDecryptionError):
        decrypt(bytes(tampered), rehashed(ref, bytes(tampered)))


def cut_points(blob: bytes) -> dict[str, int]:
    out = {"nothing": 0, "inside header": 10, "after header": STREAM_HEADER_SIZE}
    for i, (start, end) in enumerate(chunk_bounds(blob)):
        out[f"inside chunk {i}"] = start + 9
        if end < len(blob):
            out[f"after chunk {i}"] = end
    out["last byte"] = len(blob) - 1
    return out


@pytest.mark.parametrize("cut", list(cut_points(bytes(ciphertext_size(TAMPER_SIZE)))))
def test_truncation_at_chunk_boundaries_and_inside_chunks_is_refused(sample, cut):
    data, blob, ref = sample
    truncated = blob[: cut_points(blob)[cut]]
    with pytest.raises(AttachmentTruncated):
        decrypt(truncated, ref)


@pytest.mark.parametrize("chunks", [1, 2, 3])
def test_truncation_after_whole_chunks_is_refused_even_with_a_matching_reference(sample, chunks):
    """Without TAG_FINAL the blob is incomplete, whatever the reference says."""
    data, blob, ref = sample
    truncated = blob[: STREAM_HEADER_SIZE + chunks * CIPHERTEXT_CHUNK_SIZE]
    with pytest.raises(AttachmentTruncated):
        decrypt(truncated, rehashed(ref, truncated, size=chunks * CHUNK_SIZE))


def reordered(blob: bytes, i: int, j: int) -> bytes:
    bounds = chunk_bounds(blob)
    chunks = [blob[s:e] for s, e in bounds]
    chunks[i], chunks[j] = chunks[j], chunks[i]
    return blob[:STREAM_HEADER_SIZE] + b"".join(chunks)


@pytest.mark.parametrize(("i", "j"), [(0, 1), (1, 2), (0, 2)])
def test_reordered_chunks_are_refused(sample, i, j):
    data, blob, ref = sample
    swapped = reordered(blob, i, j)
    with pytest.raises(AttachmentError):
        decrypt(swapped, ref)
    with pytest.raises(AttachmentDecryptionError):
        decrypt(swapped, rehashed(ref, swapped))


def splice(a: bytes, b: bytes, index: int) -> bytes:
    """Blob `a` with its chunk `index` taken from blob `b`."""
    (sa, ea), (sb, eb) = chunk_bounds(a)[index], chunk_bounds(b)[index]
    return a[:sa] + b[sb:eb] + a[ea:]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_chunk_swapped_from_a_blob_under_another_key_is_refused(sample, index):
    data, blob, ref = sample
    other, _ = encrypt(os.urandom(TAMPER_SIZE))
    spliced = splice(blob, other, index)
    with pytest.raises(AttachmentDecryptionError):
        decrypt(spliced, rehashed(ref, spliced))


@pytest.mark.parametrize("index", [0, 1, 2])
def test_chunk_swapped_from_a_blob_under_the_same_key_is_refused(sample, index):
    """Same key, fresh header (the normal case): every chunk key and nonce differs."""
    data, blob, ref = sample
    other, _ = encrypt(os.urandom(TAMPER_SIZE), file_key=ref.file_key)
    spliced = splice(blob, other, index)
    with pytest.raises(AttachmentDecryptionError):
        decrypt(spliced, rehashed(ref, spliced))


@pytest.mark.parametrize("index", [0, 1, 2])
def test_chunk_swapped_between_blobs_of_the_same_key_and_header_is_refused(index):
    """Even a re-used header: the stream state chains every earlier MAC, and the hash pins all."""
    data = os.urandom(TAMPER_SIZE)
    changed = bytearray(data)
    changed[index * CHUNK_SIZE + 5] ^= 0xFF  # the two files differ in chunk `index` only
    blob, ref = encrypt(data)
    other, _ = encrypt(bytes(changed), file_key=ref.file_key, stream_header=blob[:24])
    spliced = splice(blob, other, index)
    with pytest.raises(AttachmentError):
        decrypt(spliced, ref)
    # A key holder rewriting the reference still cannot splice: the next chunk fails.
    with pytest.raises(AttachmentDecryptionError):
        decrypt(spliced, rehashed(ref, spliced))


def test_replaced_blob_under_another_key_is_refused(sample):
    data, blob, ref = sample
    other, _ = encrypt(os.urandom(TAMPER_SIZE))
    with pytest.raises(AttachmentDecryptionError):
        decrypt(other, ref)


def test_replaced_blob_under_the_same_key_fails_the_signed_hash(sample):
    """A key holder's other file decrypts, but is not the blob the signed reference names."""
    data, blob, ref = sample
    other, _ = encrypt(os.urandom(TAMPER_SIZE), file_key=ref.file_key)
    with pytest.raises(AttachmentHashMismatch):
        decrypt(other, ref)


def test_wrong_key_is_refused_at_the_first_chunk(sample):
    data, blob, ref = sample
    wrong = AttachmentRef(ref.blob_hash, ref.size, ref.name, ref.media_type, os.urandom(32))
    decryptor = AttachmentDecryptor(wrong)
    with pytest.raises(AttachmentDecryptionError):
        decryptor.update(blob[: STREAM_HEADER_SIZE + CIPHERTEXT_CHUNK_SIZE])


@pytest.mark.parametrize("garbage", [b"\x00", os.urandom(17), os.urandom(CIPHERTEXT_CHUNK_SIZE)])
def test_garbage_appended_after_the_final_chunk_is_refused(sample, garbage):
    data, blob, ref = sample
    with pytest.raises(AttachmentTrailingData):
        decrypt(blob + garbage, ref)


def test_data_after_a_final_chunk_is_refused_even_within_the_declared_size():
    key = os.urandom(32)
    final, message = (
        crypto_secretstream_xchacha20poly1305_TAG_FINAL,
        crypto_secretstream_xchacha20poly1305_TAG_MESSAGE,
    )
    blob = raw_blob(key, [(bytes(CHUNK_SIZE), final), (b"more", message)])
    hasher = new_blob_hasher()
    hasher.update(blob)
    ref = AttachmentRef(hasher.digest(), CHUNK_SIZE + 4, "a.bin", "text/plain", key)
    with pytest.raises(AttachmentTrailingData):
        decrypt(blob, ref)


@pytest.mark.parametrize(
    "chunks",
    [
        [(bytes(CHUNK_SIZE), "message"), (b"", "final")],  # empty final after data
        [(b"short", "message"), (b"", "final")],  # a short chunk that is not final
        [(bytes(CHUNK_SIZE), "push"), (b"x", "final")],  # a tag the format never uses
    ],
    ids=["empty-final-after-data", "short-message-chunk", "push-tag"],
)
def test_non_canonical_blobs_are_refused(chunks):
    tags = {
        "message": crypto_secretstream_xchacha20poly1305_TAG_MESSAGE,
        "final": crypto_secretstream_xchacha20poly1305_TAG_FINAL,
        "push": crypto_secretstream_xchacha20poly1305_TAG_PUSH,
    }
    key = os.urandom(32)
    blob = raw_blob(key, [(chunk, tags[tag]) for chunk, tag in chunks])
    size = sum(len(chunk) for chunk, _ in chunks)
    hasher = new_blob_hasher()
    hasher.update(blob)
    # The reference is what a key holder would sign for these bytes; only the form is wrong.
    ref = AttachmentRef(hasher.digest(), size, "a.bin", "text/plain", key)
    with pytest.raises(AttachmentError):
        decrypt(blob, ref)


def test_a_refused_decryptor_stays_refused(sample):
    data, blob, ref = sample
    tampered = bytearray(blob)
    tampered[STREAM_HEADER_SIZE + 3] ^= 1
    decryptor = AttachmentDecryptor(ref)
    with pytest.raises(AttachmentDecryptionError):
        decryptor.update(bytes(tampered))
    with pytest.raises(AttachmentDecryptionError):
        decryptor.update(blob[len(tampered) :] or b"x")
    with pytest.raises(AttachmentDecryptionError):
        decryptor.finish()


def test_attachment_errors_are_crypto_errors_and_value_errors():
    for cls in (
        AttachmentDecryptionError,
        AttachmentTruncated,
        AttachmentTrailingData,
        AttachmentHashMismatch,
    ):
        assert issubclass(cls, CryptoError) and issubclass(cls, ValueError)
    assert (
        len({c.code for c in (AttachmentError, AttachmentTruncated, AttachmentHashMismatch)}) == 3
    )


# --- the reference --------------------------------------------------------------------------


def test_reference_round_trips_through_canonical_json(sample):
    data, blob, ref = sample
    assert AttachmentRef.from_json(ref.to_json()) == ref
    assert AttachmentRef.from_bytes(ref.to_bytes()) == ref
    assert ref.to_bytes() == canonical_json(ref.to_json())
    assert ref.blob_id == ref.blob_hash.hex()


def test_reference_repr_never_shows_the_file_key(sample):
    data, blob, ref = sample
    assert b64e(ref.file_key) not in repr(ref) and ref.file_key.hex() not in repr(ref)


def good_reference_json() -> dict:
    return {
        "blob": "ab" * 32,
        "size": 10,
        "name": "photo.jpg",
        "media_type": "image/jpeg",
        "file_key": b64e(bytes(32)),
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("blob", "AB" * 32),
        ("blob", "ab" * 31),
        ("blob", 5),
        ("size", -1),
        ("size", MAX_ATTACHMENT_SIZE + 1),
        ("size", True),
        ("size", "10"),
        ("name", "../etc/passwd"),
        ("name", ""),
        ("name", ".hidden"),
        ("name", "a\u202egpj.exe"),
        ("name", "x" * 300),
        ("media_type", "Image/JPEG"),
        ("media_type", "image/jpeg; charset=x"),
        ("media_type", "jpeg"),
        ("file_key", b64e(bytes(31))),
        ("file_key", "not base64"),
        ("extra", 1),
    ],
)
def test_malformed_reference_fields_are_refused(field, value):
    obj = good_reference_json()
    obj[field] = value
    with pytest.raises(MalformedError):
        AttachmentRef.from_json(obj)


def test_reference_missing_a_field_or_not_an_object_is_refused():
    obj = good_reference_json()
    del obj["media_type"]
    for bad in (obj, [], "x", None):
        with pytest.raises(MalformedError):
            AttachmentRef.from_json(bad)
    with pytest.raises(MalformedError):
        AttachmentRef.from_bytes(b'{"blob": 1}')


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("photo.jpg", "photo.jpg"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\officer\\scan.pdf", "scan.pdf"),
        ("dir/", "attachment"),
        ("..", "attachment"),
        ("", "attachment"),
        (".bashrc", "bashrc"),
        ("a\u202egpj.exe", "agpj.exe"),
        ("line\nbreak.txt", "linebreak.txt"),
        ('what?<>:"|*.txt', "what_______.txt"),
        ("  spaced name.png  ", "spaced name.png"),
        ("Ảnh chụp.jpg", unicodedata.normalize("NFC", "Ảnh chụp.jpg")),
    ],
)
def test_file_names_are_sanitised(raw, expected):
    assert sanitise_file_name(raw) == expected


def test_decomposed_names_become_nfc():
    decomposed = unicodedata.normalize("NFD", "Biên bản bàn giao.pdf")
    assert sanitise_file_name(decomposed) == unicodedata.normalize("NFC", decomposed)


def test_long_names_are_cut_to_255_bytes_keeping_the_extension():
    name = sanitise_file_name("照片" * 200 + ".jpeg")
    assert len(name.encode("utf-8")) <= 255 and name.endswith(".jpeg")
    assert name.startswith("照片照片")
    assert sanitise_file_name(name) == name


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("image/JPEG", "image/jpeg"),
        ("text/plain; charset=utf-8", "text/plain"),
        ("application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.text"),
        ("nonsense", "application/octet-stream"),
        ("", "application/octet-stream"),
    ],
)
def test_media_types_are_normalised(raw, expected):
    assert normalise_media_type(raw) == expected


def test_encryptor_reference_sanitises_what_the_sender_gives():
    encryptor = AttachmentEncryptor()
    encryptor.finish()
    ref = encryptor.reference(name="/home/officer/Ảnh.JPG", media_type="Image/JPEG")
    assert (ref.name, ref.media_type, ref.size) == ("Ảnh.JPG", "image/jpeg", 0)
