package process

import "os"

var errNotExist = os.ErrNotExist
