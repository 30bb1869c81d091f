/*
 * events.h — Kubernetes events.k8s.io/v1 Events (what `kubectl describe`
 * and `kubectl get events` show), for the JobManager's Kubernetes
 * ResourceManager and the operator.
 */
#ifndef FLINC_K8S_EVENTS_H
#define FLINC_K8S_EVENTS_H

#include <stdbool.h>

#include "k8s/client.h"

/* An object an Event is about (its regarding and related). */
typedef struct k8s_object_ref {
	const char *api_version, *kind, *name, *ns;
	const char *uid; /* NULL: left out */
} k8s_object_ref;

typedef struct k8s_event {
	bool warning;	       /* type Warning, else Normal */
	const char *reason;    /* CamelCase: TaskManagerCreated, Submit, ... */
	const char *action;    /* NULL: the reason */
	const char *note;      /* what a person reads, cut at 1 KiB by the API server's rules */
	const char *controller; /* reportingController: flinc.dev/jobmanager, ... */
	const char *instance;	/* reportingInstance: the pod's name, ... */
	k8s_object_ref regarding;
	const k8s_object_ref *related; /* NULL: none */
} k8s_event;

/* Creates ev in namespace ns, named <regarding name>.<the time in µs and
 * a random suffix> (unique). Returns 0, FL_ENOMEM, or the API's error in
 * e. */
int k8s_event_create(k8s_client *kc, const char *ns, const k8s_event *ev, k8s_err *e);

#endif
