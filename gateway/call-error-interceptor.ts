// Reports the gRPC code of every control-plane call that fails, unary or
// streaming (also mid-stream), from one place: the transport every forwarded
// call and every REST route shares. Calls the caller cancelled are not failures
// of the control plane and are not reported.
import { ConnectError, type Code, type Interceptor, type StreamResponse } from "@connectrpc/connect";

export type CallErrorReport = (code: Code) => void;

export function callErrorInterceptor(report: CallErrorReport): Interceptor {
  return (next) => async (request) => {
    let response;
    try {
      response = await next(request);
    } catch (error) {
      if (!request.signal.aborted) report(ConnectError.from(error).code);
      throw error;
    }
    if (!response.stream) return response;
    return { ...response, message: reportingStream(response, request.signal, report) } as StreamResponse;
  };
}

async function* reportingStream(response: StreamResponse, signal: AbortSignal, report: CallErrorReport): AsyncGenerator<never> {
  try {
    yield* response.message as AsyncIterable<never>;
  } catch (error) {
    if (!signal.aborted) report(ConnectError.from(error).code);
    throw error;
  }
}
