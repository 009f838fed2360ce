"""One error hierarchy for the whole package, and the reason codes of the manifest.

Every problem with one input is a :class:`CorpusError` carrying a
:class:`Reason`; the build turns it into a manifest row (``status`` failed or
skipped, ``reason`` the code, ``message`` the one-line text) and goes on.
"""

from __future__ import annotations

from enum import StrEnum

# Exit status of every `corpus` command (2, a usage error, is click's).
EXIT_OK = 0  # every input stored or deliberately skipped; verify: the corpus is as listed, nothing left over
EXIT_FATAL = 1  # a fatal error: bad OUT, spec mismatch, lock held, a training run that stopped; verify: corruption
EXIT_SOME_FAILED = 3  # the build finished but some inputs failed (each is a manifest row with its reason)
EXIT_LEAKS = EXIT_SOME_FAILED  # corpus leakage: some pre-training volume is in a downstream set
EXIT_LEFTOVERS = 4  # verify: every listed array is sound, but interrupted builds left work to commit or remove


class Reason(StrEnum):
    """Reason codes written to the manifest's ``reason`` column."""

    EMPTY_FILE = "empty_file"
    UNREADABLE = "unreadable"
    TRUNCATED = "truncated"
    UNSUPPORTED_FORMAT = "unsupported_format"
    NOT_3D = "not_3d"
    BAD_GEOMETRY = "bad_geometry"
    NON_FINITE = "non_finite"
    TOO_LARGE = "too_large"
    DUPLICATE_INPUT = "duplicate_input"
    WRITE_FAILED = "write_failed"
    CHANGED_DURING_BUILD = "changed_during_build"
    INTERNAL_ERROR = "internal_error"
    # label maps paired with an image
    LABEL_GEOMETRY = "label_geometry"
    BAD_LABELS = "bad_labels"
    # DICOM series
    NO_PIXEL_DATA = "no_pixel_data"
    NOT_A_VOLUME = "not_a_volume"
    DUPLICATE_SLICES = "duplicate_slices"
    MISSING_SLICES = "missing_slices"
    # deliberately not stored (status "skipped")
    NOT_CT = "not_ct"
    LOCALIZER = "localizer"
    SECONDARY_CAPTURE = "secondary_capture"
    NOT_AN_IMAGE = "not_an_image"
    TOO_FEW_SLICES = "too_few_slices"
    NOT_AXIAL = "not_axial"


# Inputs that are fine but not CT volumes: recorded as "skipped", the build's exit status stays 0.
SKIP_REASONS = frozenset(
    {
        Reason.DUPLICATE_INPUT,
        Reason.NOT_CT,
        Reason.LOCALIZER,
        Reason.SECONDARY_CAPTURE,
        Reason.NOT_AN_IMAGE,
        Reason.TOO_FEW_SLICES,
        Reason.NOT_AXIAL,
    }
)


class CorpusError(ValueError):
    """Root of every error this package raises on purpose."""

    reason: Reason = Reason.INTERNAL_ERROR

    def __init__(self, message: str, reason: Reason | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class InputError(CorpusError):
    """One input cannot become a volume; the build records it and goes on."""


class SpecError(CorpusError):
    """A build specification or command-line value is invalid."""


class CorpusFormatError(CorpusError):
    """An output folder is not a corpus, or not one this build may extend."""


class FencedError(CorpusError):
    """A task of a build generation that no longer holds the lock: it must write nothing more."""


def one_line(error: BaseException, limit: int = 500) -> str:
    """An exception as one short line, for the manifest's ``message`` column."""
    return " ".join(str(error).split())[:limit] or type(error).__name__
