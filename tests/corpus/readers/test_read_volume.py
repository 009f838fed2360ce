"""read_volume: any supported file by its name; empty and unknown files fail with a reason."""

from __future__ import annotations

import pytest

from corpus.errors import InputError, Reason
from corpus.readers import read_volume


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.nii.gz", b"", Reason.EMPTY_FILE),
        ("text.nii.gz", b"this is not an image\n" * 20, Reason.UNREADABLE),
        ("text.mha", b"hello world\n", Reason.UNREADABLE),
        ("notes.txt", b"hello", Reason.UNSUPPORTED_FORMAT),
    ],
)
def test_non_images_fail_with_a_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as raised:
        read_volume(path)
    assert raised.value.reason is reason
    assert str(raised.value)
