#!/usr/bin/perl

# JSON for front-ends: every answer in the chosen format, the JSON equal to
# what the official COS SDK's converter makes of the same XML (with stable
# arrays and decoded character references), content negotiation, errors
# in JSON, and no half-converted answer.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use IO::Uncompress::Gunzip qw(gunzip);
use JSON::PP;
use Test::More;

my $sdk = "$CiJobsTest::ROOT/t/sdk";
CiJobsTest::require_prerequisite(-d "$sdk/node_modules/cos-nodejs-sdk-v5",
    'the SDK reference is not installed (make deps)');

my $t = CiJobsTest->new(http => <<'EOF');
    server {
        listen 127.0.0.1:%%PORT%%;
        %%CREDENTIALS%%
        ci_jobs_read_timeout 1s;

        location /json/ {
            ci_jobs on;
            ci_jobs_json on;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /auto/ {
            ci_jobs on;
            ci_jobs_json auto;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /xml/ {
            ci_jobs on;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /arrays/ {
            ci_jobs on;
            ci_jobs_json on;
            ci_jobs_json_array JobsDetail NonExistJobIds Stream;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /small/ {
            ci_jobs on;
            ci_jobs_json on;
            ci_jobs_max_body_size 1m;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /gzip/ {
            gzip on;
            gzip_types application/json application/xml;
            gzip_min_length 0;

            location /gzip/json/ {
                ci_jobs on;
                ci_jobs_json on;
                ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
            }

            location /gzip/xml/ {
                ci_jobs on;
                ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
            }
        }
    }
EOF

# what the SDK makes of a body, with these array names
sub sdk_json {
    my ($xml, @arrays) = @_;
    my $file = $t->dir . '/body-' . int(rand(1e9)) . '.xml';
    open my $fh, '>:raw', $file or die;
    print $fh $xml;
    close $fh;
    my @a = map { ('--array', $_) } @arrays;
    open my $p, '-|', 'node', "$sdk/xml2json.js", @a, $file or die;
    local $/;
    my $out = <$p>;
    close $p;
    $out =~ s/\n\z//;
    return $out;
}

# the JSON answer and the XML upstream sent for it
sub json_and_xml {
    my ($target, %headers) = @_;
    $t->forget_upstream_requests;
    my $r = $t->get($target, %headers);
    my ($seen) = $t->upstream_requests;
    return ($r, $seen ? $seen->{response} : undef);
}

my $queue = 'p893bcda225bf4945a378da6662e81a89';

# --- the mapping, against the SDK -----------------------------------------------

for my $target (
    '/json/jobs/j8d121820f5e411ec926ef19d53ba9c6f',
    '/json/jobs/jobsSuccess1,jobsRunning1,nosuchjob1,nosuchjob2',
    '/json/jobs/jobsUserData1',
    '/json/pic_jobs/c93984788066911ed89ed352d4d9d2084',
    '/json/ai_jobs/a8d121820f5e411ec926ef19d53ba9c6f',
    '/json/inventorytriggerjob/b3deffea2f84911ec9cb15254008618d9',
    "/json/jobs?queueId=$queue&tag=Translation&size=3",
    "/json/jobs?queueId=$queue&tag=Translation&states=Cancel&size=100",
    "/json/jobs?queueId=$queue&tag=Nothing",
    '/json/jobs/faultchunked',
    '/json/jobs/fault500',
    '/json/jobs/nosuchjob3',
) {
    my ($r, $xml) = json_and_xml($target);
    ok(defined $xml, "$target: upstream answered") or next;
    is($r->{headers}{'content-type'}, 'application/json; charset=utf-8',
       "$target: JSON");
    is($r->{headers}{'content-length'}, length $r->{body},
       "$target: Content-Length");
    is($r->{body}, sdk_json($xml, 'JobsDetail'),
       "$target: the SDK's JSON, JobsDetail always an array");
    ok(eval { decode_json($r->{body}); 1 }, "$target: valid JSON");
}

my ($r, $xml) = json_and_xml('/json/jobs/fault500');
is($r->{status}, 500, 'an upstream error keeps its status');
like($r->{body}, qr/^\{"Error":\{"Code":"InternalError",/,
     'an upstream error in JSON');

($r, $xml) = json_and_xml('/arrays/jobs/jobsSuccess1,nosuchjob1');
is($r->{body}, sdk_json($xml, qw(JobsDetail NonExistJobIds Stream)),
   'ci_jobs_json_array: every name listed is an array');
like($r->{body}, qr/"NonExistJobIds":\["nosuchjob1"\]/,
     'ci_jobs_json_array: a single NonExistJobIds as an array');

# --- negotiation ------------------------------------------------------------------

for my $case (
    [ undef, 'xml' ],
    [ 'application/json', 'json' ],
    [ 'Application/JSON', 'json' ],
    [ 'application/xml', 'xml' ],
    [ '*/*', 'xml' ],
    [ 'application/*', 'xml' ],
    [ 'application/json;q=0', 'xml' ],
    [ 'application/json; q=0.0', 'xml' ],
    [ 'text/html, application/json;q=0.9', 'json' ],
    [ 'application/xml;q=0.5, application/json', 'json' ],
    [ 'application/json;q=0.4, application/xml;q=0.8', 'xml' ],
    [ 'application/json;q=0.8, text/xml;q=0.8', 'json' ],
) {
    my ($accept, $want) = @$case;
    my $r = $t->get('/auto/jobs/jobsSuccess1',
                    defined $accept ? (Accept => $accept) : ());
    my $what = 'Accept: ' . ($accept // '(none)');
    is($r->{headers}{'content-type'},
       $want eq 'json' ? 'application/json; charset=utf-8' : 'application/xml',
       "$what: $want");
    is($r->{headers}{vary}, 'Accept', "$what: Vary: Accept");
}

$r = $t->get('/json/jobs/jobsSuccess1');
ok(!exists $r->{headers}{vary}, 'ci_jobs_json on: no Vary');

# --- errors in JSON -------------------------------------------------------------

for my $case (
    [ '/json/jobs/a,,b', 400, 'InvalidArgument' ],
    [ '/json/objects/a', 404, 'NoSuchApi' ],
    [ '/json/jobs/faultmalformed', 502, 'BadGateway' ],
    [ '/json/jobs/faulttruncated', 502, 'BadGateway' ],
    [ '/json/jobs/faultslow3', 504, 'GatewayTimeout' ],
    [ '/json/jobs/faultcontenttype', 502, 'BadGateway' ],
    [ '/json/jobs/faulthuge', 502, 'BadGateway' ],
    [ '/small/jobs/faultbig', 502, 'BadGateway' ],
    [ '/auto/jobs/a,,b', 400, 'InvalidArgument', 'application/json' ],
) {
    my ($target, $status, $code, $accept) = @$case;
    my $r = $t->get($target, $accept ? (Accept => $accept) : ());
    is($r->{status}, $status, "$target: $status");
    is($r->{headers}{'content-type'}, 'application/json; charset=utf-8',
       "$target: a JSON error");
    like($r->{body}, qr/^\{"Error":\{"Code":"$code","Message":"[^"]+",
                        "RequestId":"[0-9a-f]{32}"\}\}$/x,
         "$target: CI's error shape in JSON");
}

$r = $t->request('POST', '/json/jobs/a', 'Content-Length' => 0);
like($r->{body}, qr/^\{"Error":\{"Code":"MethodNotAllowed"/,
     'a 405 in JSON');

# nginx's other filters see the type without its charset, as for any
# answer: gzip_types application/json matches the JSON
for my $format (qw(json xml)) {
    my $target = "/gzip/$format/jobs/jobsSuccess1";
    $r = $t->get($target, 'Accept-Encoding' => 'gzip');
    is($r->{headers}{'content-encoding'}, 'gzip', "$target: gzip_types");
    gunzip(\$r->{body} => \my $body);
    is($body, $t->get("/$format/jobs/jobsSuccess1")->{body},
       "$target: the answer, compressed");
}
is($r->{headers}{'content-type'}, 'application/xml', 'XML: its type');
is($t->get('/gzip/json/jobs/jobsSuccess1', 'Accept-Encoding' => 'gzip')
       ->{headers}{'content-type'},
   'application/json; charset=utf-8', 'JSON: its type and charset');

# a good answer with a non-XML content type is fine in XML mode
$r = $t->get('/xml/jobs/faultcontenttype');
is($r->{status}, 200, 'XML mode: the content type is not checked');

$t->done;
done_testing;
