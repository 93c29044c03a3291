// An empty module: what a bare `node <file>` start costs, the floor of `--help`.
