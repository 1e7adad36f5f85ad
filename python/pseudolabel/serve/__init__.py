"""``pseudolabel serve``: Label Studio's ML backend over a label store (optional extra ``serve``).

:mod:`~pseudolabel.serve.protocol` reads and writes the protocol's JSON,
:mod:`~pseudolabel.serve.task_rows` turns tasks into feature rows,
:mod:`~pseudolabel.serve.service` holds the model and the store, and
:mod:`~pseudolabel.serve.app` is the FastAPI app (imported only when serving).
"""

from pseudolabel.serve.service import LabelingService, ServeConfig

__all__ = ["LabelingService", "ServeConfig"]
