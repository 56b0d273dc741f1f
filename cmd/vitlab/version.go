package main

import "vitlab/internal/buildinfo"

func version() string { return buildinfo.Version() }
