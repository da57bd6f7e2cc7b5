/* pbfield.h: protobuf-c field layout (pbfield.c). */
#ifndef BATCHD_PBFIELD_H
#define BATCHD_PBFIELD_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

size_t	 pbfield_elem_size(const ProtobufCFieldDescriptor *);

#endif
