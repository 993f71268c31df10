/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The fleet's PostgreSQL as the KQL translator sees it (hunt_pg.c): the
 * tables a fleet query may read and their columns, from the catalog, for
 * `vigil hunt --pg` and the server's detector (server/detect_pg.c). Linux
 * only (libpq).
 */
#ifndef VG_HUNT_PG_H
#define VG_HUNT_PG_H

#include <libpq-fe.h>

#include "kql.h"

#define VG_PG_NTABLES 11

struct vg_pg_cat {
	struct vg_kql_table t[VG_PG_NTABLES];
	char **cols[VG_PG_NTABLES];
};

/*
 * The columns of the fleet tables that exist, from the database's catalog
 * (a table it lacks has none); "IngestId" is left out. 0, -EIO (logged), -ENOMEM.
 */
int vg_pg_catalog(PGconn *pg, struct vg_pg_cat *c);
void vg_pg_cat_free(struct vg_pg_cat *c);

#endif
