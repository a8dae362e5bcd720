"""Errors a user can act on.

`InputError` means bad input (a wrong file, a missing image, a gene mismatch, NaN counts,
an empty section, a corrupt checkpoint). Its message is one line that says what is wrong
and where (a file path, a section name, a field). The CLI prints it and exits with code 2.

`TrainingDiverged` means training hit a non-finite loss; its one-line message names the
phase, epoch and loss and where the last good checkpoint is. The CLI exits with code 1.
"""


class InputError(ValueError):
    """Bad user input; the message is one line naming what and where."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class TrainingDiverged(FloatingPointError):
    """A NaN or infinite loss stopped training; the message is one line (phase, epoch, loss, checkpoint)."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
