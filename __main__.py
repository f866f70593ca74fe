"""fleet: multi-cloud Kubernetes fleets from ClusterTemplate and ClusterSet documents."""

from pathlib import Path

from fleet.program import main

main(Path(__file__).resolve().parent)
