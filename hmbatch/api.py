"""The Python API for notebooks: the current model of a workspace, opened read-only.

    import hmbatch
    ws = hmbatch.open_workspace("hmbatch-work")
    lists = ws.recommend(["<customer_id>", ...], k=12)   # {customer_id: [article_id, ...]}
    ws.evaluate()                                         # the same dict as `evaluate --json`

`recommend` goes through `serving.Serving.recommend`, the function `submit` calls for each block,
so a list here is the submission's line for that customer; TensorFlow is not imported for customers
whose embedding was saved at training time.
"""

from __future__ import annotations

import os
from pathlib import Path


from hmbatch.errors import HmbatchError
from hmbatch.retrieve import check_strategy
from hmbatch.serving import Serving
from hmbatch.workspace import Workspace


class OpenWorkspace:
    """The current model of a workspace and its database, opened for reading.

    Attributes:
        workspace: the Workspace (paths).
        model: the name of the run opened (the current one at opening time).
        allow_stale: whether a model trained on another database was accepted.
    """

    def __init__(self, workspace: Workspace, allow_stale: bool = False):
        self.workspace, self.allow_stale = workspace, allow_stale
        self._serving = Serving.open(workspace, allow_stale)
        self.model = self._serving.run_dir.name

    def recommend(self, customer_ids: list[str], k: int = 12, strategy: str | None = None) -> dict[str, list[str]]:
        """The top-k articles of each customer, exactly as `submit` writes them.

        Args:
            customer_ids: customer ids as in customers.csv; an unknown id gets the cold-start list.
            k: articles per customer (1-100).
            strategy: one of retrieve.STRATEGIES (default: `submit`'s, the ranker when the run has one).

        Returns:
            {customer_id: [10-digit article id, ...]} in the order of `customer_ids`.
        """
        r = self._serving
        strategy = r.strategy(strategy)
        if not 1 <= k <= 100:
            raise HmbatchError(f"k must be between 1 and 100, not {k}")
        ids = [str(c) for c in customer_ids]
        if not ids:
            return {}
        lists = r.recommend(r.customer_index(ids), k, strategy)
        text = r.article_text()
        return {c: [text[a] for a in row] for c, row in zip(ids, lists.tolist())}

    def evaluate(self, strategy: str = "all") -> dict:
        """MAP@12, recall@12 and coverage on the held-out week: `evaluate.evaluate`, the same dict
        as `hmbatch evaluate --json` (it also saves evaluation.json in the model's folder).

        Raises:
            HmbatchError: the model has no held-out week, or the current model changed since
                `open_workspace` (open it again).
        """
        from hmbatch import evaluate as evaluate_mod
        from hmbatch.retrieve import STRATEGIES
        if self.workspace.current_model().name != self.model:
            raise HmbatchError(f"the current model is now {self.workspace.current_model().name}, not "
                               f"{self.model}: call hmbatch.open_workspace again")
        strategies = STRATEGIES if strategy == "all" else (check_strategy(strategy),)
        return evaluate_mod.evaluate(self.workspace, strategies, False, self.allow_stale)

    def close(self) -> None:
        """Closes the database connection."""
        self._serving.close()

    def __enter__(self) -> "OpenWorkspace":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<hmbatch workspace {self.workspace.root} model {self.model}>"


def open_workspace(path: str | os.PathLike | None = None, allow_stale: bool = False) -> OpenWorkspace:
    """Opens a workspace's current model read-only.

    Args:
        path: the workspace folder (default: $HMBATCH_WORKSPACE, else ./hmbatch-work).
        allow_stale: accept a model trained on another database (as --allow-stale).

    Raises:
        HmbatchError: no database, no model, or a stale model, with the CLI's message.
    """
    return OpenWorkspace(Workspace.resolve(Path(path) if path is not None else None), allow_stale)
