/* inlog_budget.h: the least directory budget an input log of a brain of
 * `elements` floats can work in, a header of its own so that the config's
 * check (config/, which links no brain) and the writer say the same: a
 * segment starts with a checkpoint (the field as float32 and its JSON), and
 * the budget must hold a few of them besides the records between. */
#ifndef FIELDBRAIN_INLOG_BUDGET_H
#define FIELDBRAIN_INLOG_BUDGET_H

#include <stdint.h>

/* The bytes of one segment's start checkpoint, with room for its JSON. */
static inline uint64_t inlog_checkpoint_bytes(uint64_t elements)
{
    return elements * 4 + 65536;
}

/* The least record.max_mb in bytes: four start checkpoints and 256 KiB. */
static inline uint64_t inlog_min_budget_bytes(uint64_t elements)
{
    return 4 * inlog_checkpoint_bytes(elements) + (256u << 10);
}

#endif
