// SPDX-License-Identifier: GPL-2.0
/*
 * The trace events of trace.h, defined here once. Exported so that probes in other modules
 * (the KUnit suites) can attach to them.
 */
#define CREATE_TRACE_POINTS
#include "trace.h"

EXPORT_TRACEPOINT_SYMBOL_GPL(uswiotlb_map);
EXPORT_TRACEPOINT_SYMBOL_GPL(uswiotlb_unmap);
EXPORT_TRACEPOINT_SYMBOL_GPL(uswiotlb_sync);
EXPORT_TRACEPOINT_SYMBOL_GPL(uswiotlb_pool_full);
EXPORT_TRACEPOINT_SYMBOL_GPL(uswiotlb_grow);
EXPORT_TRACEPOINT_SYMBOL_GPL(uswiotlb_shrink);
