build2/engine/base/dtype.o: engine/base/dtype.c engine/base/dtype.h
engine/base/dtype.h:
