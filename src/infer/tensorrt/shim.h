/* edgesight's TensorRT shim: a small C API over TensorRT's C++ API (feature `tensorrt`).
 *
 * Nothing from TensorRT is linked at build time: es_trt_runtime_create() dlopen()s libnvinfer
 * (and, to build engines, libnvonnxparser) and takes only their factory entry points
 * (createInferRuntime_INTERNAL, createInferBuilder_INTERNAL, createNvOnnxParser_INTERNAL,
 * getInferLibVersion); everything else is virtual calls on the objects they return.
 *
 * Conventions: functions returning int return 0 on success and non-zero on failure, with a
 * NUL-terminated message in `err` (at most err_len bytes). Sizes are unsigned long long and
 * dimensions long long, so this header needs no system header (bindgen parses it alone).
 * Objects are used from one thread at a time.
 */
#ifndef EDGESIGHT_TRT_SHIM_H
#define EDGESIGHT_TRT_SHIM_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct EsTrtRuntime EsTrtRuntime;
typedef struct EsTrtEngine EsTrtEngine;

/* Severity as TensorRT's ILogger numbers it: 0 internal error, 1 error, 2 warning, 3 info. */
typedef void (*EsTrtLogFn)(int severity, const char* message);

/* Element types of engine tensors (TensorRT's DataType values). */
enum {
    ES_TRT_FLOAT = 0,
    ES_TRT_HALF = 1,
    ES_TRT_INT8 = 2,
    ES_TRT_INT32 = 3,
    ES_TRT_BOOL = 4,
    ES_TRT_UINT8 = 5,
    ES_TRT_FP8 = 6,
    ES_TRT_BF16 = 7,
    ES_TRT_INT64 = 8
};

#define ES_TRT_MAX_DIMS 8

/* TensorRT version of the headers this shim was compiled against (major*10000+minor*100+patch). */
int es_trt_header_version(void);

/* 1 when the headers are TensorRT >= 10.12, where networks are strongly typed and precision
 * comes from the ONNX graph; 0 when the FP16 builder flag is used. */
int es_trt_strongly_typed(void);

/* Loads libnvinfer from `nvinfer` (a file name or path; NULL: the usual names for the header's
 * major version) and checks that its major version matches the headers'. `log` receives
 * TensorRT's messages of severity <= warning (may be NULL). */
int es_trt_runtime_create(const char* nvinfer, EsTrtLogFn log, EsTrtRuntime** out, char* err,
                          unsigned long long err_len);
void es_trt_runtime_destroy(EsTrtRuntime* rt);

/* getInferLibVersion() of the loaded library. */
int es_trt_library_version(const EsTrtRuntime* rt);

/* Builds a serialized engine from ONNX bytes. Inputs with a dynamic first dimension get an
 * optimisation profile of batch 1..max_batch (optimum max_batch). fp16 is honoured where the
 * version has the builder flag. On success *plan is a malloc'd buffer for es_trt_free(). */
int es_trt_build(EsTrtRuntime* rt, const char* onnxparser, const void* onnx,
                 unsigned long long onnx_len, int max_batch, int fp16,
                 unsigned long long workspace_bytes, void** plan, unsigned long long* plan_len,
                 char* err, unsigned long long err_len);
void es_trt_free(void* p);

/* Deserializes a plan and creates its execution context. */
int es_trt_engine_create(EsTrtRuntime* rt, const void* plan, unsigned long long plan_len,
                         EsTrtEngine** out, char* err, unsigned long long err_len);
void es_trt_engine_destroy(EsTrtEngine* engine);

int es_trt_engine_io_count(const EsTrtEngine* engine);

/* I/O tensor `index`: its name (copied into `name`), direction, element type and shape as the
 * engine declares it (-1 where dynamic). */
int es_trt_engine_io(const EsTrtEngine* engine, int index, char* name,
                     unsigned long long name_len, int* is_input, int* dtype, long long* dims,
                     int* nb_dims);

/* Shape of a tensor in the execution context (outputs: resolved after the input shapes). */
int es_trt_context_shape(const EsTrtEngine* engine, const char* name, long long* dims,
                         int* nb_dims);

int es_trt_set_input_shape(EsTrtEngine* engine, const char* name, const long long* dims,
                           int nb_dims, char* err, unsigned long long err_len);

/* Binds a tensor to device memory (the pointer stays owned by the caller). */
int es_trt_set_address(EsTrtEngine* engine, const char* name, void* device_ptr, char* err,
                       unsigned long long err_len);

/* Queues inference on `stream` (a CUstream / cudaStream_t). */
int es_trt_enqueue(EsTrtEngine* engine, void* stream, char* err, unsigned long long err_len);

#ifdef __cplusplus
}
#endif

#endif
