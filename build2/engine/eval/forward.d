build2/engine/eval/forward.o: engine/eval/forward.c engine/eval/forward.h \
 engine/model/model.h engine/base/dtype.h engine/base/qt.h \
 /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h \
 /usr/include/x86_64-linux-gnu/openblas-pthread/openblas_config.h
engine/eval/forward.h:
engine/model/model.h:
engine/base/dtype.h:
engine/base/qt.h:
/usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h:
/usr/include/x86_64-linux-gnu/openblas-pthread/openblas_config.h:
