"""trace_row: a row's lineage back to its raw source row, with every judgment on the way, shown in the web UI.

Launch it from the launchpad with the row id (any asset, kept or rejected):

    ops:
      trace_lineage:
        config:
          row_id: 3f2a9c0d1e4b5a67

The run's log holds the trace as plain text (what `thinkforge lineage <id>` prints) and its output's metadata
(`trace`) the same as markdown. The job carries only the warehouse it reads, so the launchpad asks for nothing else.
"""

from dagster import Config, Failure, MetadataValue, OpExecutionContext, Out, Output, ResourceDefinition, job, op
from pydantic import Field

from resources.warehouse import WarehouseResource
from thinkforge import lineage


class TraceConfig(Config):
    row_id: str = Field(description="id of the row to trace (16 hex characters, from any asset or its rejects table)")


@op(
    out=Out(str, description="the trace as markdown"),
    description="Walk a row's parent ids back to its raw source row and render every stage's judgments as markdown.",
)
def trace_lineage(context: OpExecutionContext, config: TraceConfig, warehouse_store: WarehouseResource):
    row_id = config.row_id.strip()
    chain = lineage.trace(warehouse_store.root, row_id)
    if not chain:
        raise Failure(
            description=f"row {row_id} not found in the warehouse under {warehouse_store.root}",
            metadata={"row_id": row_id},
        )
    markdown = lineage.render(chain, escape=True)
    context.log.info(lineage.render(chain))  # the event log shows text as written: no HTML entities
    stages = [hit.stage for _, hit in chain]
    yield Output(
        markdown,
        metadata={
            "trace": MetadataValue.md(markdown),
            "row_id": row_id,
            "rows": len(chain),
            "stages": MetadataValue.text(" ← ".join(dict.fromkeys(stages))),
            "raw_rows": sum(not hit.row.get("parent_ids") for _, hit in chain),
        },
    )


@job(
    description="Row lineage in the UI: launch with a row id (ops.trace_lineage.config.row_id); the run shows the "
    "trace from that row back to its raw source row with every judgment on the way (logs and the `trace` metadata).",
    tags={"thinkforge/kind": "lineage"},
    # the warehouse under THINKFORGE_HOME, fixed (no launch config); no model roles, no IO manager of the assets
    resource_defs={
        "warehouse_store": ResourceDefinition.hardcoded_resource(
            WarehouseResource(), "the warehouse under THINKFORGE_HOME"
        )
    },
)
def trace_row():
    trace_lineage()


TRACE_JOBS = [trace_row]
