"""A live ``pseudolabel serve`` for tests: uvicorn on 127.0.0.1, a free port, httpx.

Shared by ``test_serve.py`` and ``test_label_studio_sdk.py``; import it after
``pytest.importorskip("httpx")`` and ``("uvicorn")``. ``serve`` and ``cancer`` are fixtures:
a test module imports them by name.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import uvicorn

from pseudolabel.serve.app import bind, create_app
from pseudolabel.serve.service import LabelingService, ServeConfig

CONFIG = """<View>
  <Text name="text" value="$f0"/>
  <Choices name="diagnosis" toName="text" choice="single">
    <Choice value="benign"/>
    <Choice value="malignant"/>
  </Choices>
</View>"""
FEATURES = [f"f{i}" for i in range(6)]


@pytest.fixture(scope="module")
def cancer() -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    X = pd.DataFrame(data.data[:, :6], columns=FEATURES)
    y = np.where(data.target == 1, "benign", "malignant")
    return X, y


class Server:
    """A live server: ``url``, the ``service`` behind it, and ``client`` (httpx)."""

    def __init__(self, service: LabelingService) -> None:
        self.service = service
        sock = bind("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(create_app(service), log_level="error",
                                                     lifespan="on"))
        # the socket already listens: requests wait in its backlog until uvicorn accepts
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]})
        self._thread.start()
        self._sock = sock
        self.client = httpx.Client(base_url=self.url, timeout=60.0)

    def close(self) -> None:
        self.client.close()
        self._server.should_exit = True
        self._thread.join()
        self._sock.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    servers: list[Server] = []

    def start(**config) -> Server:
        config.setdefault("store", str(tmp_path / "labels.db"))
        server = Server(LabelingService(ServeConfig(**config)))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def task(i: int, X: pd.DataFrame, **extra) -> dict:
    return {"id": int(i), "data": {**{c: float(X.iloc[i][c]) for c in FEATURES}, **extra}}


def event(i: int, X: pd.DataFrame, label: str, *, action: str = "ANNOTATION_CREATED",
          annotator=7, annotation: int | None = None, **extra) -> dict:
    return {
        "action": action,
        "task": task(i, X, **extra),
        "annotation": {"id": 1000 + int(i) if annotation is None else annotation,
                       "completed_by": annotator, "result": [
            {"from_name": "diagnosis", "to_name": "text", "type": "choices",
             "value": {"choices": [label]}}]},
        "project": {"id": 1, "label_config": CONFIG},
    }
