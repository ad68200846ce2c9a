/* web_page.h: the bundled page, embedded at build time from web/page/
 * (embed.cmake writes web_page.c), served by fieldbrain-web from memory. */
#ifndef FIELDBRAIN_WEB_PAGE_H
#define FIELDBRAIN_WEB_PAGE_H

#include <stddef.h>

typedef struct {
    const char *path;          /* the URL path: "/" for index.html */
    const char *mime;
    const unsigned char *data;
    size_t len;
} web_asset;

extern const web_asset web_assets[];
extern const size_t web_n_assets;

#endif
