package main

import "petrel/control"

// controlSocketName is the control socket in data_dir (package control).
const controlSocketName = control.SocketName

func controlPath(dataDir string) string { return control.Path(dataDir) }
