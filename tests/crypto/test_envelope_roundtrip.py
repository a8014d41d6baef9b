"""Property tests: any plaintext to any number of recipients opens to the same bytes for each."""

from __future__ import annotations

from functools import cache

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crypto.envelope import Envelope, open_as_reviewer
from tests.crypto.crypto_world import CN, NOW, VN, World, pinned_rng

MIB = 1024 * 1024
# Vietnamese with combining and precomposed marks, Chinese, and anything else Unicode has.
notice_text = st.one_of(
    st.text(),
    st.text(alphabet="ăâđêôơưàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ "),
    st.text(alphabet="越南中国公安边防移交受害者核查请求结果口岸时间地点 、。"),
)


@cache
def cast() -> tuple[World, list]:
    world = World(rng=pinned_rng(b"roundtrip"))
    devices = [world.device(f"officer{i}", VN if i % 2 else CN) for i in range(65)]
    return world, devices


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=notice_text, n_recipients=st.integers(min_value=1, max_value=64))
def test_unicode_notice_round_trips_to_every_recipient(text, n_recipients):
    world, devices = cast()
    sender, recipients = devices[0], devices[1 : 1 + n_recipients]
    plaintext = text.encode("utf-8")
    env = Envelope.from_bytes(world.seal(sender, recipients, plaintext).to_bytes())
    for party in (recipients[0], recipients[-1]):
        assert world.open(env, party, sender).plaintext == plaintext
    opened = open_as_reviewer(
        env,
        review=world.review_keys[CN],
        agency=CN,
        sender_cert=sender.cert,
        trust=world.trust,
        now=NOW,
    )
    assert opened.plaintext == plaintext


@settings(max_examples=8, deadline=None)
@given(body=st.binary(max_size=4096), n_recipients=st.integers(min_value=1, max_value=64))
@example(body=b"", n_recipients=1)
@example(body=b"\x00" * MIB, n_recipients=3)
@example(body=bytes(range(256)) * (MIB // 256 - 1) + b"tail", n_recipients=64)
def test_binary_body_up_to_one_mebibyte_round_trips(body, n_recipients):
    world, devices = cast()
    sender, recipients = devices[0], devices[1 : 1 + n_recipients]
    data = world.seal(sender, recipients, body).to_bytes()
    assert len(data) > len(body)
    for party in {
        recipients[0].device_id: recipients[0],
        recipients[-1].device_id: recipients[-1],
    }.values():
        assert world.open(data, party, sender).plaintext == body
