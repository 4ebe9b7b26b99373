/* uco — coroutines and asynchronous I/O on io_uring. The one header to include. */
#ifndef UCO_H
#define UCO_H

#include <uco/version.h>
#include <uco/ring.h>
#include <uco/async.h>
#include <uco/sync.h>
#include <uco/io.h>
#include <uco/fs.h>
#include <uco/net.h>

#endif
