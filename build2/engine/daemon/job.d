build2/engine/daemon/job.o: engine/daemon/job.c engine/daemon/job.h \
 engine/base/qt.h /usr/include/cjson/cJSON.h
engine/daemon/job.h:
engine/base/qt.h:
/usr/include/cjson/cJSON.h:
